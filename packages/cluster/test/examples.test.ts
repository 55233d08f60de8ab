import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFile } from "node:child_process"
import * as Path from "node:path"

const example = Path.join(import.meta.dirname, "..", "examples", "twoRunners.ts")

describe("examples", () => {
  it.live("twoRunners: 21 emails sent once each over two runner processes; the pending digest coalesces", () =>
    Effect.promise(
      () =>
        new Promise<string>((resolve, reject) =>
          execFile(process.execPath, [example], (error, stdout, stderr) =>
            error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)
          )
        )
    ).pipe(
      Effect.map((stdout) => {
        assert.include(stdout, "accepted 20 of 20")
        assert.include(stdout, "delayed digest accepted: true; queued again while pending: false")
        assert.match(stdout, /sent 21 emails over [12] runner processes/)
      })
    )
  )
})
