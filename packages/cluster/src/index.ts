/**
 * @since 0.1.0
 */

/**
 * A durable workqueue on Effect's `PersistedQueue`: items stored in PostgreSQL (or memory), run by any number of
 * runner processes, surviving crashes; kernel vocabulary where its contracts hold (docs/DESIGN.md).
 *
 * @since 0.1.0
 */
export * as DurableWorkqueue from "./DurableWorkqueue.ts"

/**
 * The typed error of the durable workqueue: which workqueue, which rule was broken.
 *
 * @since 0.1.0
 */
export * as DurableWorkqueueError from "./DurableWorkqueueError.ts"
