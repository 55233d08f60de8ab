/**
 * Example 9: per-CPU work.
 *
 * Seed: 001 ("Per-CPU Work") and 004 (LDD3: "the work function always runs on the same processor").
 * Kernel calls mirrored: `schedule_work_on(cpu, &work)` (`WorkqueueSystem.scheduleOn`), `queue_work_on(cpu, wq,
 * &work)` (`Workqueue.queueOn`), `queue_work` from a CPU (`WorkqueueSystem.onCpu(cpu)` + `Workqueue.queue`:
 * a per-CPU workqueue queues on the caller's CPU), `smp_processor_id()` (`WorkqueueSystem.currentCpu`).
 *
 * The CPUs are the system's virtual CPUs (`WorkqueueSystem.layer({ cpus: 4 })`): each has its own worker pools.
 *
 * Run: `npm run example -- per-cpu`
 */
import { Work, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"
import * as Effect from "effect/Effect"
import { type Program, printTable, runMain, say } from "./shared.ts"

export const program: Program = Effect.scoped(
  Effect.gen(function* () {
    const { cpus } = yield* WorkqueueSystem.WorkqueueSystem
    const rows: Array<[string, string, number, number]> = []
    const item = (call: string, wanted: number) =>
      Work.make(
        () =>
          Effect.gen(function* () {
            const snapshot = yield* WorkqueueSystem.snapshot
            const cpu = yield* WorkqueueSystem.currentCpu
            const me = snapshot.pools.flatMap((p) => p.workers).find((w) => w.work === `${call}@${wanted}`)
            rows.push([call, me?.name ?? "?", wanted, cpu])
          }),
        { name: `${call}@${wanted}` }
      )

    for (let cpu = 0; cpu < cpus; cpu++) {
      const work = yield* item("schedule_work_on", cpu)
      yield* WorkqueueSystem.scheduleOn(cpu, work)
      yield* Work.flush(work)
    }

    const wq = yield* Workqueue.make("percpu_demo", { flags: Workqueue.WQ_PERCPU })
    for (let cpu = cpus - 1; cpu >= 0; cpu--) {
      yield* Workqueue.queueOn(wq, cpu, yield* item("queue_work_on", cpu))
    }
    yield* Workqueue.flush(wq)

    // queue_work from code running "on" CPU 2: the per-CPU workqueue picks that CPU's pool
    yield* WorkqueueSystem.onCpu(2)(Workqueue.queue(wq, yield* item("queue_work (on cpu 2)", 2)))
    yield* Workqueue.flush(wq)

    yield* printTable(["call", "worker", "asked cpu", "ran on cpu"], rows)
    yield* say(`all on the asked CPU: ${rows.every(([, , asked, ran]) => asked === ran)}`)
  })
)

if (import.meta.main) runMain(program)
