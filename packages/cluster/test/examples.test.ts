import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFile } from "node:child_process"
import * as Path from "node:path"

const example = Path.join(import.meta.dirname, "..", "examples", "twoRunners.ts")
const httpBackend = Path.join(import.meta.dirname, "..", "examples", "httpBackend.ts")

const runScript = (script: string) =>
  Effect.promise(
    () =>
      new Promise<string>((resolve, reject) =>
        execFile(process.execPath, [script], (error, stdout, stderr) =>
          error ? reject(new Error(`${error.message}\n${stdout}\n${stderr}`)) : resolve(stdout)
        )
      )
  )

describe("examples", () => {
  it.live("twoRunners: 21 emails sent once each over two runner processes; the pending digest coalesces", () =>
    runScript(example).pipe(
      Effect.map((stdout) => {
        assert.include(stdout, "accepted 20 of 20")
        assert.include(stdout, "delayed digest accepted: true; queued again while pending: false")
        assert.match(stdout, /sent 21 emails over [12] runner processes/)
      })
    )
  )

  it.live(
    "httpBackend: jobs POSTed to two HTTP runners all complete after one runner's SIGKILL; a cancelled job never does",
    () =>
      runScript(httpBackend).pipe(
        Effect.map((stdout) => {
          assert.include(stdout, "queued 20 jobs on two runners; ms=abc answered 400")
          assert.include(stdout, "cancelled the 60 s job through the other runner: 200")
          assert.include(stdout, "runner 2 killed with SIGKILL")
          assert.match(stdout, /done 20 of 20 jobs over [12] runner processes/)
          assert.include(stdout, "the cancelled job ran to the end: false")
        })
      )
  )
})
