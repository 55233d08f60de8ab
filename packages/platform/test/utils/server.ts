/**
 * Loopback HTTP servers that misbehave on purpose, for the monitor's tests: one that never answers, one that
 * trickles, one that streams without end, one that serves a given body. Every server listens on 127.0.0.1 only
 * and records the requests it saw.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

export interface TestServer {
  readonly url: string
  readonly port: number
  readonly requests: Array<IncomingMessage>
  /** Resolves when the `n`th request (1-based) arrived. */
  readonly requested: (n?: number) => Promise<void>
  readonly close: () => Promise<void>
}

export const serve = async (handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> => {
  const requests: Array<IncomingMessage> = []
  const waiters: Array<{ n: number; resolve: () => void }> = []
  const server: Server = createServer((req, res) => {
    requests.push(req)
    for (const w of waiters.filter((w) => w.n <= requests.length)) {
      waiters.splice(waiters.indexOf(w), 1)
      w.resolve()
    }
    handler(req, res)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}/debug/workqueues`,
    port,
    requests,
    requested: (n = 1) =>
      requests.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

/** Accepts the request and never answers. */
export const silent = () => serve(() => {})

/** Sends the headers and one byte, then nothing. */
export const trickle = () =>
  serve((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" })
    res.write("{")
  })

/** Streams `{"x":"aaaa…` until the client goes away. */
export const endless = () =>
  serve((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" })
    res.write('{"x":"')
    const chunk = "a".repeat(64 * 1024)
    const pump = () => {
      while (!res.destroyed && res.write(chunk)) {}
      if (!res.destroyed) res.once("drain", pump)
    }
    pump()
  })

/** Serves `body` (a JSON value) as JSON. */
export const json = (body: () => unknown) =>
  serve((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" })
    res.end(JSON.stringify(body()))
  })
