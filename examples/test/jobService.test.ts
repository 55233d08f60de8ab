import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { program } from "../src/jobService.ts"
import { runExample } from "./utils/run.ts"

const full = (order: string) =>
  `t=  900ms  POST /charge?order=${order}&amount=12 -> 429 {"error":"QueueFull","message":"workqueue \\"payments\\": cannot queue: 4 items pending reach maxPending 4"}`
const ok = (t: string, order: string, attempts: number) =>
  `t=${t}  POST /charge?order=${order}&amount=12 -> 200 {"order":"${order}","receipt":"rcpt-${order}-${attempts}","attempts":${attempts}}`

describe("jobService (an HTTP job service on the jobs layer)", () => {
  it.effect(
    "answers with results after retries at their backoff times, dead-letters a declined charge, sheds load at maxPending",
    () =>
      Effect.gen(function* () {
        const lines = yield* runExample(program, { limit: "5 seconds" })
        assert.deepStrictEqual(lines, [
          // concurrency 2: o-1 and o-flaky start at 0 (200 ms each); o-bad waits for a slot
          ok("  200ms", "o-1", 1),
          't=  400ms  POST /charge?order=o-bad&amount=12 -> 402 {"error":"PaymentDeclined","order":"o-bad"}',
          // o-flaky: fails at 200, retried at 300 (+100 ms), fails at 500, retried at 700 (+200 ms), done at 900
          ok("  900ms", "o-flaky", 3),
          't=  900ms  GET /dead-letters -> 200 [{"id":"charge:o-bad","attempts":1,"error":"PaymentDeclined"}]',
          full("o-burst-4"),
          full("o-burst-5"),
          full("o-burst-6"),
          full("o-burst-7"),
          ok(" 1100ms", "o-burst-0", 1),
          ok(" 1100ms", "o-burst-1", 1),
          ok(" 1300ms", "o-burst-2", 1),
          ok(" 1300ms", "o-burst-3", 1)
        ])
      })
  )
})
