/**
 * The two storages every durable-workqueue specification runs on: memory (fast) and the real PostgreSQL that the
 * `cluster` project's global setup started (test/utils/globalSetup.ts).
 */
import { DurableWorkqueue } from "@effect-workqueue/cluster"
import { PgClient } from "@effect/sql-pg"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { inject } from "vitest"

let counter = 0
/** A workqueue name no other test uses (the PostgreSQL tables are shared by the whole run). */
export const uniqueName = (label: string) => `${label}-${process.pid}-${++counter}`

export const pgLayer = (options?: Parameters<typeof DurableWorkqueue.layerPg>[0]) =>
  DurableWorkqueue.layerPg({ pollInterval: "100 millis", ...options }).pipe(
    Layer.provideMerge(PgClient.layer({ url: Redacted.make(inject("pgUrl")) })),
    Layer.orDie
  )

export const storages = [
  { label: "memory", layer: () => DurableWorkqueue.layerMemory },
  { label: "postgresql", layer: () => pgLayer() }
] as const
