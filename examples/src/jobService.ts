/**
 * Example: an HTTP job service on the jobs layer — results, retries with backoff, dead letters, backpressure.
 *
 * `POST /charge?order=o-1&amount=12` charges a (fake) payment gateway on the "payments" workqueue and answers with
 * the job's result:
 * - `200 {"order","receipt","attempts"}` once the charge went through — after up to 3 attempts, retried on
 *   `GatewayUnavailable` with exponential backoff (100 ms, 200 ms) and a 1 s timeout per attempt;
 * - `402 {"error":"PaymentDeclined",...}` at once for a declined card (a failure that retrying cannot fix: the
 *   schedule only retries `GatewayUnavailable`), and the job goes to the dead letters;
 * - `429 {"error":"QueueFull"}` with `Retry-After` when `maxPending` (4) charges already wait: the service sheds load
 *   instead of queueing without bound;
 * - `GET /dead-letters` lists the jobs that failed for good.
 * The workqueue runs 2 charges at once (`concurrency: 2`); a retry waits as delayed work, holding no worker.
 *
 * `program` sends requests through the same routes in-process (so `npm run example -- job-service` and its test
 * run it under the Effect clock); `node examples/src/jobService.ts --serve [port]` serves it on 127.0.0.1.
 *
 * Run: `npm run example -- job-service`
 */
import { Job, Workqueue, type WorkqueueError } from "@effect-workqueue/core"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { createServer } from "node:http"
import { WorkqueueSystem } from "@effect-workqueue/core"
import { type Program, say, stopwatch } from "./shared.ts"

/** The gateway is down for a moment (worth retrying). */
class GatewayUnavailable extends Schema.TaggedError<GatewayUnavailable>()("GatewayUnavailable", {
  order: Schema.String
}) {}

/** The card was declined (retrying cannot help). */
class PaymentDeclined extends Schema.TaggedError<PaymentDeclined>()("PaymentDeclined", {
  order: Schema.String,
  amount: Schema.Number
}) {}

/**
 * A fake gateway: 200 ms per call; order "o-flaky" is unavailable twice, then goes through; "o-bad" is declined.
 */
const makeGateway = () => {
  const calls = new Map<string, number>()
  return (order: string, amount: number) =>
    Effect.gen(function* () {
      const n = (calls.get(order) ?? 0) + 1
      calls.set(order, n)
      yield* Effect.sleep(200)
      if (order === "o-flaky" && n <= 2) return yield* Effect.fail(new GatewayUnavailable({ order }))
      if (order === "o-bad") return yield* Effect.fail(new PaymentDeclined({ order, amount }))
      return `rcpt-${order}-${n}`
    })
}

/** The service: the payments workqueue, its dead letters, and the HTTP handlers over them. */
const makeService = Effect.gen(function* () {
  const payments = yield* Workqueue.make("payments", { concurrency: 2, maxPending: 4 })
  const deadLetters: Array<{ readonly id: string; readonly attempts: number; readonly error: string }> = []
  const gateway = makeGateway()

  const charge = Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const params = new URL(request.url, "http://x").searchParams
    const order = params.get("order") ?? "o-?"
    const amount = Number(params.get("amount") ?? 0)
    return yield* Job.run(
      payments,
      ({ attempts }) => Effect.map(gateway(order, amount), (receipt) => ({ order, receipt, attempts })),
      {
        id: `charge:${order}`,
        timeout: "1 second",
        // retry only what retrying can fix, after 100 ms then 200 ms; at most 3 attempts in all
        retrySchedule: Schedule.exponential("100 millis").pipe(
          Schedule.while(({ input }) => input instanceof GatewayUnavailable)
        ),
        maxAttempts: 3,
        deadLetter: (letter) =>
          Effect.sync(() =>
            deadLetters.push({
              id: letter.id,
              attempts: letter.attempts,
              error: String((Cause.squash(letter.cause) as { _tag?: string })._tag)
            })
          )
      }
    ).pipe(
      Effect.map((result) => HttpServerResponse.jsonUnsafe(result)),
      Effect.catch((error: GatewayUnavailable | PaymentDeclined | Cause.TimeoutError | WorkqueueError.WorkqueueError) =>
        Effect.succeed(toResponse(error))
      )
    )
  })

  const listDeadLetters = Effect.sync(() => HttpServerResponse.jsonUnsafe(deadLetters))
  return { charge, listDeadLetters }
})

/** Typed failures to HTTP: each error says what happened; nothing is a bare 500. */
const toResponse = (
  error: GatewayUnavailable | PaymentDeclined | Cause.TimeoutError | WorkqueueError.WorkqueueError
): HttpServerResponse.HttpServerResponse => {
  if (Cause.isTimeoutError(error)) return HttpServerResponse.jsonUnsafe({ error: "Timeout" }, { status: 504 })
  switch (error._tag) {
    case "PaymentDeclined":
      return HttpServerResponse.jsonUnsafe({ error: error._tag, order: error.order }, { status: 402 })
    case "GatewayUnavailable":
      return HttpServerResponse.jsonUnsafe({ error: error._tag, order: error.order }, { status: 502 })
    case "WorkqueueError":
      return error.reason === "QueueFull"
        ? HttpServerResponse.jsonUnsafe(
            { error: "QueueFull", message: error.message },
            { status: 429, headers: { "retry-after": "1" } }
          )
        : HttpServerResponse.jsonUnsafe({ error: error.reason, message: error.message }, { status: 503 })
  }
}

/** The routes, for a real server. */
const routes = Layer.unwrap(
  Effect.map(makeService, (service) =>
    Layer.mergeAll(
      HttpRouter.add("POST", "/charge", service.charge),
      HttpRouter.add("GET", "/dead-letters", service.listDeadLetters)
    )
  )
)

/** Send one request through a handler in-process and print the status and body. */
const send = (
  handler: Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest>,
  method: string,
  path: string
) =>
  Effect.gen(function* () {
    const request = HttpServerRequest.fromWeb(new Request(`http://localhost${path}`, { method }))
    const response = yield* Effect.provideService(handler, HttpServerRequest.HttpServerRequest, request)
    // the JSON bodies here are bytes in memory: read them without a Promise, so the example runs on any Clock
    const body = response.body._tag === "Uint8Array" ? new TextDecoder().decode(response.body.body) : ""
    return `${method} ${path} -> ${response.status} ${body}`
  })

export const program: Program = Effect.scoped(
  Effect.gen(function* () {
    const clock = yield* stopwatch
    const service = yield* makeService
    const log = (line: string) => Effect.flatMap(clock.stamp, (t) => say(`${t}  ${line}`))
    const post = (order: string) =>
      Effect.flatMap(send(service.charge, "POST", `/charge?order=${order}&amount=12`), log)

    // three charges at once: one plain, one that needs two retries, one declined for good
    yield* Effect.all([post("o-1"), post("o-flaky"), post("o-bad")], { concurrency: "unbounded" })
    yield* log(yield* send(service.listDeadLetters, "GET", "/dead-letters"))

    // a burst of 8 in one go: the first 4 are admitted (maxPending 4: none has started yet), the other 4 are told
    // to come back later (429) — `whenFull: "wait"` would hold those callers until there is room instead
    yield* Effect.all(
      Array.from({ length: 8 }, (_, i) => post(`o-burst-${i}`)),
      { concurrency: "unbounded" }
    )
  })
)

if (import.meta.main) {
  if (process.argv[2] === "--serve") {
    const port = Number(process.argv[3] ?? 0)
    const server = HttpRouter.serve(routes).pipe(
      Layer.provide(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" })),
      Layer.provide(WorkqueueSystem.layer())
    )
    NodeRuntime.runMain(Layer.launch(server))
  } else {
    const { runMain } = await import("./shared.ts")
    runMain(program)
  }
}
