/**
 * @since 0.1.0
 */

// @barrel: the public modules, one namespace each (checked by test/index.test.ts)

/**
 * @since 0.1.0
 */
export * as NodeMonitor from "./NodeMonitor.ts"

/**
 * @since 0.1.0
 */
export * as NodeShutdown from "./NodeShutdown.ts"

/**
 * @since 0.1.0
 */
export * as NodeWorkqueue from "./NodeWorkqueue.ts"

/**
 * @since 0.1.0
 */
export * as ThreadPool from "./ThreadPool.ts"

/**
 * @since 0.1.0
 */
export * as ThreadTask from "./ThreadTask.ts"

/**
 * @since 0.1.0
 */
export * as ThreadWork from "./ThreadWork.ts"
