/**
 * @since 0.1.0
 */

// @barrel: the public modules, one namespace each (checked by test/index.test.ts)

/**
 * @since 0.1.0
 */
export * as DelayedWork from "./DelayedWork.ts"

/**
 * @since 0.1.0
 */
export * as Job from "./Job.ts"

/**
 * @since 0.1.0
 */
export * as Work from "./Work.ts"

/**
 * @since 0.1.0
 */
export * as Workqueue from "./Workqueue.ts"

/**
 * @since 0.1.0
 */
export * as WorkqueueError from "./WorkqueueError.ts"

/**
 * @since 0.1.0
 */
export * as WorkqueueMetrics from "./WorkqueueMetrics.ts"

/**
 * @since 0.1.0
 */
export * as WorkqueueSystem from "./WorkqueueSystem.ts"
