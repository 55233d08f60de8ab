/**
 * Example 11: debugging — the `/sys/kernel/debug/workqueue`-style dump and kworker names.
 *
 * Seed: 003 (Part 6: "Debugging and Monitoring Tools": debugfs, `ps aux | grep kworker`, ftrace) and 002
 * ("Worker thread lifetime": `[kworker/CPU:ID]`, `[kworker/uN:ID]`).
 * Kernel calls mirrored: `cat /sys/kernel/debug/workqueue` / `tools/workqueue/wq_dump.py` / `wq_monitor.py`
 * (`WorkqueueSystem.snapshot`: every workqueue with its pool workqueues' active/inactive counts and statistics,
 * every pool with its workers), `ps aux | grep "[kworker"` (the workers' `comm`: `kworker/u8:1-my_private_wq`).
 *
 * `echo 1 > /sys/kernel/debug/tracing/events/workqueue/enable; cat trace_pipe`: the four tracepoints
 * (queue_work, activate_work, execute_start, execute_end) in the kernel's printed formats, from the
 * `tracepoint` sink of `WorkqueueSystem.layer` (a second, traced system, so the dump above stays as it is).
 *
 * Run: `npm run example -- debugging`
 */
import { Work, Workqueue, type WorkqueueMetrics, WorkqueueSystem } from "@effect-workqueue/core"
import * as Effect from "effect/Effect"
import { type Program, printTable, runMain, say } from "./shared.ts"

/** Print the snapshot as debugfs-style tables (only the workqueues in `names`, if given; pools with workers). */
export const dump = (snapshot: WorkqueueSystem.Snapshot, options: { readonly names?: ReadonlyArray<string> }) =>
  Effect.gen(function* () {
    const wqs = snapshot.workqueues.filter((wq) => options.names === undefined || options.names.includes(wq.name))
    yield* printTable(
      ["workqueue", "type", "max_active", "active", "inactive", "started", "completed", "rescuer"],
      wqs.map((wq) => [
        wq.name,
        wq.type,
        wq.maxActive,
        sum(wq.pwqs.map((p) => p.active)),
        sum(wq.pwqs.map((p) => p.inactive)),
        sum(wq.pwqs.map((p) => p.stats.started)),
        sum(wq.pwqs.map((p) => p.stats.completed)),
        wq.rescuer ?? "-"
      ])
    )
    yield* say("")
    const pools = snapshot.pools.filter((p) => p.workers.length > 0)
    yield* printTable(
      ["pool", "kind", "cpu", "nice", "workers", "idle", "busy", "worklist"],
      pools.map((p) => [
        p.id,
        p.kind,
        p.cpu === undefined ? "-" : String(p.cpu),
        p.nice,
        p.workers.length,
        p.idle,
        p.busy,
        p.worklist
      ])
    )
    yield* say("")
    yield* printTable(
      ["ps: comm", "state", "running"],
      pools.flatMap((p) =>
        p.workers.map((w) => [`[${w.comm}]`, w.state, w.work === undefined ? "-" : `${w.work} (${w.workqueue})`])
      )
    )
  })

const sum = (xs: ReadonlyArray<number>): number => xs.reduce((a, b) => a + b, 0)

export const program: Program = Effect.scoped(
  Effect.gen(function* () {
    const privateWq = yield* Workqueue.make("my_private_wq", {
      flags: Workqueue.WQ_MEM_RECLAIM | Workqueue.WQ_UNBOUND,
      maxActive: 1
    })
    const highpri = yield* Workqueue.make("my_highpri_wq", { flags: Workqueue.WQ_HIGHPRI, maxActive: 2 })
    const sleepy = (name: string) => Work.make(() => Effect.sleep("100 millis"), { name })
    for (let i = 0; i < 3; i++) yield* Workqueue.queue(privateWq, yield* sleepy(`private_${i}`))
    yield* WorkqueueSystem.onCpu(1)(
      Effect.gen(function* () {
        for (let i = 0; i < 3; i++) yield* Workqueue.queue(highpri, yield* sleepy(`highpri_${i}`))
      })
    )
    yield* Effect.sleep("50 millis")
    const names = ["my_private_wq", "my_highpri_wq"]
    yield* say("== cat /sys/kernel/debug/workqueue (t=50ms, items sleeping) ==")
    yield* dump(yield* WorkqueueSystem.snapshot, { names })
    yield* Workqueue.flush(privateWq)
    yield* Workqueue.flush(highpri)
    yield* say("")
    yield* say("== after flush_workqueue on both ==")
    yield* dump(yield* WorkqueueSystem.snapshot, { names })
    yield* say("")
    yield* say("== cat /sys/kernel/debug/tracing/trace_pipe (events/workqueue enabled) ==")
    for (const line of yield* traceWorkload) yield* say(line)
  })
)

/** The kernel's TP_printk formats (include/trace/events/workqueue.h); the work "pointer" printed as its name. */
export const formatTracepoint = (tp: WorkqueueMetrics.Tracepoint): string => {
  const at = `${(tp.time / 1000).toFixed(6)}:`
  switch (tp._tag) {
    case "workqueue_queue_work":
      return `${at} workqueue_queue_work: work struct=${tp.work.name} function=${tp.work.name} workqueue=${tp.workqueue} req_cpu=${
        tp.reqCpu < 0 ? "UNBOUND" : tp.reqCpu
      } cpu=${tp.cpu}`
    case "workqueue_activate_work":
      return `${at} workqueue_activate_work: work struct ${tp.work.name} function=${tp.work.name}`
    case "workqueue_execute_start":
      return `${at} workqueue_execute_start: work struct ${tp.work.name}: function ${tp.work.name} (${tp.worker})`
    case "workqueue_execute_end":
      return `${at} workqueue_execute_end: work struct ${tp.work.name}: function ${tp.work.name} (${tp.outcome})`
  }
}

/** Two items on a max_active 1 queue, the second queued on CPU 3 but run where its queue's slot frees up. */
const traceWorkload = Effect.gen(function* () {
  const events: Array<WorkqueueMetrics.Tracepoint> = []
  yield* Effect.scoped(
    Effect.gen(function* () {
      const wq = yield* Workqueue.make("traced_wq", { maxActive: 1 })
      yield* Workqueue.queueOn(wq, 3, yield* Work.make(() => Effect.sleep("10 millis"), { name: "first_fn" }))
      yield* Workqueue.queueOn(wq, 3, yield* Work.make(() => Effect.void, { name: "second_fn" }))
      yield* Workqueue.flush(wq)
    })
  ).pipe(Effect.provide(WorkqueueSystem.layer({ cpus: 4, tracepoint: (tp) => events.push(tp) })))
  return events.filter((tp) => tp.workqueue === "traced_wq").map(formatTracepoint)
})

if (import.meta.main) runMain(program)
