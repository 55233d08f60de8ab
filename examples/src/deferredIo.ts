/**
 * Example 5: deferred I/O on a dedicated workqueue with max_active 4.
 *
 * Seed: 001 ("Complete Example: Deferred I/O").
 * Kernel calls mirrored: `alloc_workqueue("io_worker", WQ_MEM_RECLAIM, 4)`
 * (`Workqueue.make("io_worker", { flags: WQ_MEM_RECLAIM, maxActive: 4 })`), `kmalloc` + `INIT_WORK` +
 * `queue_work` in `submit_io_request`, `msleep(50)` in the handler, the completion callback, `kfree(req)` by the
 * handler, `destroy_workqueue` in `io_exit` (the scope's close).
 *
 * Ten requests are submitted at once from one CPU; at most 4 run at a time on that CPU's pool workqueue, the
 * other 6 wait inactive (the "inactive" count of the pwq) and start as earlier ones complete.
 *
 * Run: `npm run example -- deferred-io`
 */
import { Work, Workqueue } from "@effect-workqueue/core"
import * as Effect from "effect/Effect"
import { type Program, printTable, runMain, say, stopwatch } from "./shared.ts"

/** `struct io_request` (the `work_struct` is the `Work` made for it). */
interface IoRequest {
  readonly id: number
  readonly size: number
  readonly offset: number
  readonly callback: ((req: IoRequest, result: number) => void) | undefined
}

export const program: Program = Effect.scoped(
  Effect.gen(function* () {
    const clock = yield* stopwatch
    // io_init()
    const ioWq = yield* Workqueue.make("io_worker", { flags: Workqueue.WQ_MEM_RECLAIM, maxActive: 4 })
    yield* say(`io_init: alloc_workqueue("io_worker", WQ_MEM_RECLAIM, ${Workqueue.maxActive(ioWq)})`)

    const allocated = new Set<IoRequest>() // what kmalloc handed out and kfree has not taken back
    const completions: Array<string> = []
    let running = 0
    let maxRunning = 0
    const rows: Array<[string, string, number]> = []
    let nextId = 0

    // io_work_handler(): container_of → the closure's `req`
    const ioWorkHandler = (req: IoRequest) =>
      Effect.gen(function* () {
        running++
        maxRunning = Math.max(maxRunning, running)
        rows.push([yield* clock.stamp, `start req ${req.id} (offset=${req.offset}, size=${req.size})`, running])
        yield* Effect.sleep("50 millis") // simulate I/O (can sleep!)
        const result = 0
        running--
        rows.push([yield* clock.stamp, `end   req ${req.id}`, running])
        req.callback?.(req, result)
        allocated.delete(req) // kfree(req): the handler owns the request now
      })

    // submit_io_request(buffer, size, offset, callback)
    const submitIoRequest = (size: number, offset: number, callback: IoRequest["callback"]) =>
      Effect.gen(function* () {
        const req: IoRequest = { id: nextId++, size, offset, callback }
        allocated.add(req)
        const work = yield* Work.make(() => ioWorkHandler(req), { name: `io_req_${req.id}` })
        return yield* Workqueue.queue(ioWq, work)
      })

    const onComplete = (req: IoRequest, result: number) => {
      completions.push(`req ${req.id} -> ${result}`)
    }
    for (let i = 0; i < 10; i++) yield* submitIoRequest(4096, i * 4096, onComplete)
    yield* say(`submitted 10 requests; allocated=${allocated.size}`)

    yield* Workqueue.flush(ioWq)
    yield* printTable(["time", "event", "running"], rows)
    yield* say(`completions (${completions.length}): ${completions.join(", ")}`)
    yield* say(`max concurrently running: ${maxRunning} (max_active ${Workqueue.maxActive(ioWq)})`)
    yield* say(`allocated after flush: ${allocated.size} (every request freed by its handler)`)
    yield* say("io_exit: destroy_workqueue(io_wq)")
  })
)

if (import.meta.main) runMain(program)
