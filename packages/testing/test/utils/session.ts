/**
 * A small mutable driver over the pure model, so that contract tests read as call sequences.
 */
import { assert } from "@effect/vitest"
import { WorkqueueModel } from "@effect-workqueue/testing"

type Op = WorkqueueModel.Op
type Event = WorkqueueModel.Event

export class Session {
  state: WorkqueueModel.State

  constructor(config: WorkqueueModel.Config) {
    this.state = WorkqueueModel.initial(config)
  }

  /** Applies one operation and returns its result. */
  do(op: Op): WorkqueueModel.Result {
    const { result, state } = WorkqueueModel.apply(this.state, op)
    this.state = state
    return result
  }

  /** Applies one operation that must return at once, and returns its value. */
  call(op: Op): boolean | undefined {
    const result = this.do(op)
    assert.strictEqual(
      result._tag,
      "Returned",
      `${WorkqueueModel.formatOp(op)} gave ${WorkqueueModel.formatResult(result)}`
    )
    return result._tag === "Returned" ? result.value : undefined
  }

  /** Applies one operation that must block, and returns its waiter id. */
  block(op: Op): number {
    const result = this.do(op)
    assert.strictEqual(
      result._tag,
      "Blocked",
      `${WorkqueueModel.formatOp(op)} gave ${WorkqueueModel.formatResult(result)}`
    )
    return result._tag === "Blocked" ? result.waiter : -1
  }

  allowed(): ReadonlyArray<Event> {
    return WorkqueueModel.allowedEvents(this.state)
  }

  observe(event: Event): void {
    const next = WorkqueueModel.observe(this.state, event)
    if (WorkqueueModel.isDivergence(next)) throw new Error(next.message)
    this.state = next
  }

  /** The CPUs (null for unbound/ordered) on which `item` may start now, on workqueue `wq` if given. */
  startable(item: string, wq?: string): Array<number | null> {
    return this.allowed().flatMap((e) =>
      e._tag === "Start" && e.item === item && (wq === undefined || e.wq === wq) ? [e.cpu] : []
    )
  }

  /** Starts `item` (must be allowed); returns the CPU. */
  start(item: string, wq?: string): number | null {
    const event = this.allowed().find((e) => e._tag === "Start" && e.item === item && (wq === undefined || e.wq === wq))
    assert.isDefined(event, `start(${item}) not allowed; allowed: ${this.allowed().map(WorkqueueModel.formatEvent)}`)
    this.observe(event!)
    return event!._tag === "Start" ? event!.cpu : null
  }

  /** The handler returns (with `outcome`) and the worker finishes its bookkeeping. */
  finish(item: string, outcome: WorkqueueModel.Outcome = "success"): void {
    this.call({ _tag: "Finish", item, outcome })
    const end = this.allowed().find((e) => e._tag === "End" && e.item === item)
    assert.isDefined(end)
    this.observe(end!)
  }

  /** Whether the waiter's Return is allowed now. */
  ready(waiter: number): boolean {
    return this.allowed().some((e) => e._tag === "Return" && e.waiter === waiter)
  }

  /** Observes the waiter's Return (must be allowed) and gives its value. */
  ret(waiter: number): boolean | undefined {
    const event = this.allowed().find((e) => e._tag === "Return" && e.waiter === waiter)
    assert.isDefined(event, `waiter ${waiter} is not ready`)
    this.observe(event!)
    return event!._tag === "Return" ? event!.value : undefined
  }

  phase(item: string): WorkqueueModel.ItemPhase["phase"] {
    return WorkqueueModel.itemPhase(this.state, item).phase
  }

  pending(item: string): boolean {
    return WorkqueueModel.isPending(this.state, item)
  }
}
