/** What a system module provides: one runner per scenario it supports. */
import type { Metrics } from "../measure.ts"

/** The scenarios a child process can run (scenario 5 is scenarios 2 and 4 at several sizes). */
export type ScenarioId = "sync" | "suspend" | "delayed" | "pending" | "priority" | "timers"

/** One measured pass of a scenario with `n` jobs. */
export type Runner = (n: number, seed: number) => Promise<Metrics>

/** A system's runners; a missing scenario is not applicable to that system. */
export type SystemImpl = Partial<Record<ScenarioId, Runner>>
