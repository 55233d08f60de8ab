/**
 * The engine against the reference model of `@effect-workqueue/testing`: a smaller, always-on slice of the
 * 10 000-sequence check that packages/testing runs, so a change to the engine meets the model in its own tests.
 * Every operation of the model is generated here (drain, destroy, freeze/thaw, delayed work, cancel_sync, flushes),
 * on one or more workqueues, handlers blocking on each other included.
 */
import { it } from "@effect/vitest"
import { WorkqueueArbitrary, WorkqueueChecker } from "@effect-workqueue/testing"
import * as Arbitrary from "effect/Arbitrary"

it.effect.prop(
  "generated sequences of queue/cancel/flush/drain/destroy/delayed ops follow the model (WorkqueueChecker)",
  [Arbitrary.array(WorkqueueArbitrary.scenario({ maxOps: 40 }), { minLength: 1, maxLength: 5 })],
  ([batch]) => WorkqueueChecker.property()(batch),
  { arbitrary: { runs: 200, seed: 1123 } }
)
