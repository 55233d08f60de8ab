/**
 * What the engine reports about itself: CPU-hog warnings (`wq_cpu_intensive_report()`), the lockup watchdog
 * (`wq_watchdog_timer_fn()`) and `show_all_workqueues()`. Reads the structures, changes only its own stamps.
 *
 * @internal
 */
import { type Pool, type System, uniquePwqs } from "./state.ts"

// ---------------------------------------------------------------------------
// CPU hogs and the lockup watchdog (wq_cpu_intensive_report, wq_watchdog_timer_fn, show_all_workqueues)
// ---------------------------------------------------------------------------

/** `wq_cpu_intensive_report()`: warn at the threshold count, then with exponential back-off (4, 5, 7, 11, 19…). */
export const wqCpuIntensiveReport = (sys: System, name: string, wqName: string): void => {
  let count = sys.hogCounts.get(name)
  if (count === undefined) {
    if (sys.hogCounts.size >= 128) return
    count = 0
  }
  count++
  sys.hogCounts.set(name, count)
  const thresh = sys.options.cpuIntensiveWarningThresh
  const over = count + 1 - thresh
  if (count >= thresh && (over & (over - 1)) === 0) {
    sys.log(
      "Warn",
      `workqueue: ${name} hogged CPU for >${Math.round(sys.options.cpuIntensiveThresh * 1000)}us ${count} times, consider switching to WQ_UNBOUND (or WQ_CPU_INTENSIVE)`,
      { workqueue: wqName, work: name }
    )
  }
}

/**
 * `wq_watchdog_timer_fn()`: every threshold, a pool with a non-empty worklist whose progress counter has not moved
 * for the threshold is reported as a lockup, with the `show_all_workqueues()` view of what is busy.
 */
export const wqWatchdogTimerFn = (sys: System, now: number): void => {
  const thresh = sys.options.watchdogThresh
  // how long a pool made no progress is elapsed time (the kernel's jiffies), not the wall clock's: a step forward
  // reported "stuck for 3600s" after 0.3 s, a step back silenced a real lockup for the step (hostile review)
  const mono = sys.monoNow()
  for (const pool of sys.pools) {
    if (pool.worklist.length === 0 || pool.progress !== pool.wdProgress) {
      pool.wdProgress = pool.progress
      pool.wdSince = mono
      continue
    }
    const stuck = mono - pool.wdSince
    if (stuck >= thresh) {
      sys.log(
        "Error",
        `BUG: workqueue lockup - pool ${poolDesc(pool)} stuck for ${Math.round(stuck / 1000)}s!\n${showWorkqueueState(sys, now)}`,
        {
          pool: pool.id
        }
      )
      pool.wdSince = mono
    }
  }
  sys.timerFiber.arm(sys.watchdogTimer, now + thresh)
}

const poolDesc = (pool: Pool): string =>
  pool.kind === "unbound"
    ? `${pool.id}: unbound nice=${pool.highpri ? -20 : 0}`
    : `${pool.id}: cpus=${pool.cpu} ${pool.kind === "bh" ? (pool.highpri ? "bh-hi" : "bh") : `nice=${pool.highpri ? -20 : 0}`}`

/** `show_all_workqueues()`: busy workqueues (in-flight and pending per pwq) and busy pools (workers, what runs). */
export const showWorkqueueState = (sys: System, now: number): string => {
  const lines: Array<string> = ["Showing busy workqueues and worker pools:"]
  for (const wq of sys.workqueues) {
    const pwqs = uniquePwqs(wq).filter((pwq) => pwq.nrActive > 0 || pwq.inactive.length > 0)
    if (pwqs.length === 0) continue
    // ours: the items pending toward `maxPending` (queued not started + armed), shown when the workqueue is bounded
    const bound = wq.maxPending === Infinity ? "" : ` pending=${wq.nrQueued + wq.timerCount.armed}/${wq.maxPending}`
    lines.push(`workqueue ${wq.name}: flags=0x${wq.flags.toString(16)}${bound}`)
    for (const pwq of pwqs) {
      lines.push(
        `  pwq ${pwq.pool.id}: ${pwq.cpu >= 0 ? `cpus=${pwq.cpu}` : "unbound"} active=${pwq.nrActive} inactive=${pwq.inactive.length}`
      )
      const inFlight = [...pwq.pool.workers].filter((w) => w.currentPwq === pwq)
      if (inFlight.length > 0) {
        lines.push(
          `    in-flight: ${inFlight.map((w) => `${w.name}:${w.current!.name} for ${Math.round((now - w.currentStart) / 1000)}s`).join(" ")}`
        )
      }
      const pending = [...pwq.pool.worklist].filter((work) => work.pwq === pwq).map((work) => work.name)
      if (pending.length > 0) lines.push(`    pending: ${pending.join(" ")}`)
      const inactive = [...pwq.inactive].map((work) => work.name)
      if (inactive.length > 0) lines.push(`    inactive: ${inactive.join(" ")}`)
    }
  }
  const mono = sys.monoNow()
  for (const pool of sys.pools) {
    if (pool.worklist.length === 0 && [...pool.workers].every((w) => w.current === undefined)) continue
    lines.push(
      `pool ${poolDesc(pool)} hung=${Math.round((mono - pool.wdSince) / 1000)}s workers=${pool.workers.size} idle: ${pool.idle.map((w) => w.name).join(" ")}`
    )
  }
  return lines.join("\n")
}
