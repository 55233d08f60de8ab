// 1M armed delayed items: heap bytes per armed item, arm and cancel ns per item, and the cost ratio 1M / 10k.
// Run: node --expose-gc packages/core/bench/timers.ts  (the full comparison with peers is `npm run bench`)
import { Effect } from "effect"
import { DelayedWork, Workqueue, WorkqueueSystem } from "@effect-workqueue/core"

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

const measure = (n: number) =>
  Effect.gen(function* () {
    const wq = yield* Workqueue.make(`timers-${n}`)
    const handler = () => Effect.void
    gc()
    const heapBefore = process.memoryUsage().heapUsed
    const items: Array<DelayedWork.DelayedWork> = new Array(n)
    for (let i = 0; i < n; i++) items[i] = yield* DelayedWork.make(handler)
    gc()
    const itemBytes = (process.memoryUsage().heapUsed - heapBefore) / n
    // round 0 warms the code paths and the items' hidden classes; rounds 1..2 are measured
    let arm = Infinity
    let cancel = Infinity
    let bytes = 0
    for (let round = 0; round < 3; round++) {
      gc()
      const heap0 = process.memoryUsage().heapUsed
      const t0 = performance.now()
      for (let i = 0; i < n; i++) Workqueue.queueDelayedUnsafe(wq, items[i]!, 60_000 + ((i * 7919) % 60_000))
      const t1 = performance.now()
      gc()
      const heap1 = process.memoryUsage().heapUsed
      const t2 = performance.now()
      for (let i = 0; i < n; i++) DelayedWork.cancelUnsafe(items[i]!)
      const t3 = performance.now()
      if (round === 0) continue
      arm = Math.min(arm, ((t1 - t0) * 1e6) / n)
      cancel = Math.min(cancel, ((t3 - t2) * 1e6) / n)
      bytes = (heap1 - heap0) / n
    }
    return { n, armNs: arm, cancelNs: cancel, bytesPerArmed: bytes, itemBytes }
  }).pipe(Effect.scoped)

const program = Effect.gen(function* () {
  yield* measure(10_000) // warm-up
  const small = yield* measure(10_000)
  const big = yield* measure(1_000_000)
  for (const r of [small, big]) {
    process.stdout.write(
      `${String(r.n).padStart(8)} armed: arm ${r.armNs.toFixed(0)} ns, cancel ${r.cancelNs.toFixed(0)} ns, ` +
        `${r.itemBytes.toFixed(1)} B per delayed item (+ array slot) + ${r.bytesPerArmed.toFixed(1)} B to arm it\n`
    )
  }
  const ratio = (big.armNs + big.cancelNs) / (small.armNs + small.cancelNs)
  process.stdout.write(`cost per item 1M / 10k: ${ratio.toFixed(2)} (target <= 1.5)\n`)
})

await Effect.runPromise(program.pipe(Effect.provide(WorkqueueSystem.layer({ watchdogThresh: 0 }))))
