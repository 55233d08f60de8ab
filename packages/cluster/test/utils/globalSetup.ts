/**
 * Vitest global setup of the `cluster` project: one PostgreSQL server for all its test files, started before the
 * first and stopped after the last. Test files read its URL with `inject("pgUrl")`.
 */
import type { TestProject } from "vitest/node"
import { startPostgres } from "./postgres.ts"

declare module "vitest" {
  export interface ProvidedContext {
    pgUrl: string
  }
}

export default async function setup(project: TestProject) {
  const pg = await startPostgres()
  project.provide("pgUrl", pg.url)
  return () => pg.stop()
}
