/**
 * The system every platform test builds directly: `WorkqueueSystem.layer` with the CPU clock frozen unless
 * `options.cpuClock` is given (`TestWorkqueue.frozenCpuClock`), so no test's schedule depends on machine speed.
 */
import { WorkqueueSystem } from "@effect-workqueue/core"
import { TestWorkqueue } from "@effect-workqueue/testing"

/** `WorkqueueSystem.layer` with a frozen CPU clock (unless `options.cpuClock` is given). */
export const systemLayer = (options?: WorkqueueSystem.Options) =>
  WorkqueueSystem.layer({ cpuClock: TestWorkqueue.frozenCpuClock, ...options })
