/**
 * The engine's `System` behind a `WorkqueueSystem` service value: kept under a symbol, off the service's public
 * shape, so no engine type appears in a public signature. Set once by the layer (`withSystem`), read by the
 * public modules (`systemOf`).
 *
 * @internal
 */
import type { System } from "./state.ts"

const SystemKey = Symbol.for("effect-workqueue/WorkqueueSystem/system")

/** The system behind a service value (set by `withSystem` when the layer built it). */
export const systemOf = (service: object): System => (service as { readonly [SystemKey]: System })[SystemKey]

/** The service value `shape` carrying `system` (one non-enumerable property: logs and JSON show the shape only). */
export const withSystem = <S extends object>(shape: S, system: System): S =>
  Object.defineProperty(shape, SystemKey, { value: system, enumerable: false })
