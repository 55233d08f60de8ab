/**
 * `npm run example -- <name>`: run one example by name; with no name, list them; an unknown name exits 1.
 */
import { type Program, runMain } from "./shared.ts"
import * as cancelling from "./cancelling.ts"
import * as declareWork from "./declareWork.ts"
import * as debugging from "./debugging.ts"
import * as deferredIo from "./deferredIo.ts"
import * as delayedWork from "./delayedWork.ts"
import * as dont from "./dont.ts"
import * as interrupt from "./interrupt.ts"
import * as jiq from "./jiq.ts"
import * as jobService from "./jobService.ts"
import * as main from "./main.ts"
import * as module from "./module.ts"
import * as perCpu from "./perCpu.ts"
import * as recurring from "./recurring.ts"
import * as singlethread from "./singlethread.ts"
import * as systemWorkqueue from "./systemWorkqueue.ts"
import * as threads from "./threads.ts"

/** name → [file, one-line description, program] */
export const examples: ReadonlyArray<readonly [name: string, file: string, description: string, program: Program]> = [
  [
    "system-wq",
    "systemWorkqueue.ts",
    "INIT_WORK + schedule_work with per-item data; the handler sleeps 100 ms (seed 001)",
    systemWorkqueue.program
  ],
  [
    "declare-work",
    "declareWork.ts",
    "static DECLARE_WORK as a module-level Work made in a layer (seeds 001, 002)",
    declareWork.program
  ],
  [
    "delayed-work",
    "delayedWork.ts",
    "schedule_delayed_work 2 s, cancelled with cancel_delayed_work_sync before it runs (seeds 001, 002)",
    delayedWork.program
  ],
  [
    "singlethread",
    "singlethread.ts",
    "create_singlethread_workqueue with module_init/module_exit as a scoped layer (seeds 001, 004)",
    singlethread.program
  ],
  [
    "deferred-io",
    "deferredIo.ts",
    "deferred I/O on io_worker (WQ_MEM_RECLAIM, max_active 4) with completion callbacks (seed 001)",
    deferredIo.program
  ],
  [
    "interrupt",
    "interrupt.ts",
    'schedule_work from an EventEmitter "IRQ": coalescing without losing data (seed 001)',
    interrupt.program
  ],
  [
    "cancel",
    "cancelling.ts",
    "cancel_work(_sync), cancel_delayed_work(_sync), flush_workqueue, flush_scheduled_work (seeds 001, 002)",
    cancelling.program
  ],
  [
    "recurring",
    "recurring.ts",
    "self-re-arming delayed work every second, stopped with cancel_delayed_work_sync (seed 001)",
    recurring.program
  ],
  [
    "per-cpu",
    "perCpu.ts",
    "schedule_work_on / queue_work_on, printing the CPU each item ran on (seed 001)",
    perCpu.program
  ],
  [
    "module",
    "module.ts",
    "the internals article's module: dedicated queue, immediate + delayed work, flush + destroy (seed 003)",
    module.program
  ],
  [
    "debugging",
    "debugging.ts",
    "debugfs-style tables and kworker names from WorkqueueSystem.snapshot, the events/workqueue trace (seed 003)",
    debugging.program
  ],
  [
    "jiqwq",
    "jiq.ts",
    "LDD3 jiq: /proc/jiqwq, a work item re-queueing itself with schedule_work (delta 0) (seed 004)",
    jiq.jiqwq
  ],
  [
    "jiqwqdelay",
    "jiq.ts",
    "LDD3 jiq: /proc/jiqwqdelay, re-arming with schedule_delayed_work(1 jiffy) (seed 004)",
    jiq.jiqwqdelay
  ],
  [
    "dont",
    "dont.ts",
    'the "Don\'t" list: unmade work is a type error; cancel_work_sync before kfree in a finaliser (seed 001)',
    dont.program
  ],
  [
    "job-service",
    "jobService.ts",
    "an HTTP job service on Job.run: results, retries with backoff, dead letters, 429 at maxPending",
    jobService.program
  ],
  [
    "threads",
    "threads.ts",
    "CPU-bound hashing offloaded from an HTTP service to worker threads (ThreadWork); timers and pings stay on time",
    threads.program
  ],
  [
    "main",
    "main.ts",
    "the README demo (npm start): flags, max_active, ordered, delayed, flush, drain, snapshot",
    main.demo
  ]
]

const list = (): string => examples.map(([name, , description]) => `  ${name.padEnd(13)} ${description}`).join("\n")

const name = process.argv[2]
if (name === undefined) {
  process.stdout.write(`usage: npm run example -- <name>\n\n${list()}\n`)
} else {
  const entry = examples.find(([n]) => n === name)
  if (entry === undefined) {
    process.stderr.write(`unknown example "${name}"; one of:\n${list()}\n`)
    process.exitCode = 1
  } else {
    runMain(entry[3])
  }
}
