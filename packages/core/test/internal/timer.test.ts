import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import { sleepUntil, TimerBase, type TimerNode } from "../../src/internal/timer.ts"

interface Timer extends TimerNode {
  readonly id: string
}

const timer = (id: string, fired: Array<string>): Timer => ({
  id,
  next: undefined,
  prev: undefined,
  list: undefined,
  expires: 0,
  onTimer: () => fired.push(id)
})

const fireDue = (base: TimerBase, now: number): Array<string> => {
  const order: Array<string> = []
  base.expire(now, (node) => order.push((node as Timer).id))
  return order
}

describe("internal/timer", () => {
  it("expire fires the due timers earliest first, arming order within one expiry (run_timers)", () => {
    const base = new TimerBase(0)
    const fired: Array<string> = []
    base.arm(timer("c30", fired), 30)
    base.arm(timer("a10", fired), 10)
    base.arm(timer("b20-1", fired), 20)
    base.arm(timer("b20-2", fired), 20)
    base.arm(timer("b20-3", fired), 20)
    base.arm(timer("d40", fired), 40)
    assert.strictEqual(base.size, 6)
    assert.deepStrictEqual(fireDue(base, 9), [], "never early")
    assert.deepStrictEqual(fireDue(base, 30), ["a10", "b20-1", "b20-2", "b20-3", "c30"])
    assert.strictEqual(base.size, 1)
    assert.strictEqual(base.nextExpiry(), 40)
  })

  it("shift moves every armed expiry with the frame, and later arms are in the new frame", () => {
    const base = new TimerBase(100)
    const fired: Array<string> = []
    base.arm(timer("a150", fired), 150)
    base.arm(timer("b200", fired), 200)
    base.shift(1_000) // the wall clock stepped forward a second: 50 ms left is 50 ms left
    assert.strictEqual(base.nextExpiry(), 1_150)
    assert.deepStrictEqual(fireDue(base, 1_149), [], "never early in the new frame")
    base.arm(timer("c1170", fired), 1_170)
    assert.deepStrictEqual(fireDue(base, 1_200), ["a150", "c1170", "b200"])
    base.arm(timer("d", fired), 1_300)
    base.shift(-2_000) // stepped back: not held for the step
    assert.strictEqual(base.nextExpiry(), -700)
    assert.deepStrictEqual(fireDue(base, -700), ["d"])
  })

  it("shift is exact: steps that cancel out (jitter) move nothing, however many", () => {
    const base = new TimerBase(0)
    const fired: Array<string> = []
    base.arm(timer("a", fired), 1_000)
    // rounding each step up cost ~0.5 ms per step: 1000 jittering steps made a 1 s delay ~0.2-0.5 s late
    for (let i = 0; i < 1_000; i++) {
      base.shift(1.37)
      base.shift(-1.37)
    }
    assert.approximately(base.nextExpiry()!, 1_000, 1e-9)
    assert.deepStrictEqual(fireDue(base, 999.99), [])
    assert.deepStrictEqual(fireDue(base, 1_000 + 1e-9), ["a"])
  })

  it("the epoch is a whole ms: expiries are whole ms on a Clock built at a fractional time", () => {
    const base = new TimerBase(0.5)
    const fired: Array<string> = []
    base.arm(timer("a", fired), 0.5 + 1) // armed at 0.5 for 1 ms: due at 2 (was 1.5 on a 0.5 + k grid)
    assert.strictEqual(base.nextExpiry(), 2)
  })

  it("arm reports whether the timer is the new earliest expiry (add_timer)", () => {
    const base = new TimerBase(0)
    const fired: Array<string> = []
    assert.isTrue(base.arm(timer("a", fired), 50))
    assert.isFalse(base.arm(timer("b", fired), 60))
    assert.isTrue(base.arm(timer("c", fired), 10))
    assert.isFalse(base.arm(timer("d", fired), 10), "same bucket as the earliest")
    assert.strictEqual(base.nextExpiry(), 10)
  })

  it("cancel unlinks an armed timer; nextExpiry skips emptied buckets (timer_delete)", () => {
    const base = new TimerBase(0)
    const fired: Array<string> = []
    const a = timer("a", fired)
    const b = timer("b", fired)
    base.arm(a, 10)
    base.arm(b, 20)
    assert.isTrue(base.isArmed(a))
    base.cancel(a)
    assert.isFalse(base.isArmed(a))
    assert.strictEqual(base.size, 1)
    assert.strictEqual(base.nextExpiry(), 20)
    assert.deepStrictEqual(fireDue(base, 100), ["b"])
    assert.isUndefined(base.nextExpiry())
    assert.strictEqual(base.size, 0)
  })

  it("a cancelled timer can be re-armed, also at its old expiry (mod_timer)", () => {
    const base = new TimerBase(0)
    const fired: Array<string> = []
    const a = timer("a", fired)
    const b = timer("b", fired)
    base.arm(a, 10)
    base.cancel(a)
    base.arm(b, 10)
    base.arm(a, 10)
    assert.isTrue(base.isArmed(a))
    assert.strictEqual(a.expires, 10)
    assert.deepStrictEqual(fireDue(base, 10), ["b", "a"], "arming order within the reused bucket")
  })

  it("a timer armed from a firing callback at a due time fires in the same pass (run_timers)", () => {
    const base = new TimerBase(0)
    const order: Array<string> = []
    const late = timer("late", order)
    const first: Timer = { ...timer("first", order) }
    base.arm(first, 5)
    base.expire(10, (node) => {
      order.push((node as Timer).id)
      if (node === first) base.arm(late, 8)
    })
    assert.deepStrictEqual(order, ["first", "late"])
    assert.strictEqual(base.size, 0)
  })

  it("isArmed is false for a timer that already fired, and nodes lists only armed timers", () => {
    const base = new TimerBase(0)
    const fired: Array<string> = []
    const a = timer("a", fired)
    const b = timer("b", fired)
    base.arm(a, 1)
    base.arm(b, 2)
    fireDue(base, 1)
    assert.isFalse(base.isArmed(a))
    assert.isTrue(base.isArmed(b))
    assert.deepStrictEqual(
      [...base.nodes()].map((n) => (n as Timer).id),
      ["b"]
    )
  })

  it("many distinct expiries come out sorted (heap order)", () => {
    const base = new TimerBase(0)
    const fired: Array<string> = []
    const expiries = [57, 3, 99, 12, 12, 45, 1, 78, 33, 64, 8, 21, 90, 2, 50]
    for (const [i, e] of expiries.entries()) base.arm(timer(`${e}#${i}`, fired), e)
    const out: Array<number> = []
    base.expire(1000, (node) => out.push(node.expires))
    assert.deepStrictEqual(
      out,
      [...expiries].sort((x, y) => x - y)
    )
  })

  it("a cancel that empties its bucket reclaims it at once; the heap is compacted (timer_delete)", () => {
    const base = new TimerBase(0)
    const fired: Array<string> = []
    const keep = timer("keep", fired)
    base.arm(keep, 3_600_000)
    const node = timer("jitter", fired)
    // 100k arm+cancel cycles, each at a distinct expiry within the hour
    for (let i = 0; i < 100_000; i++) {
      base.arm(node, 60_000 + ((i * 7919) % 3_000_000))
      base.cancel(node)
    }
    assert.strictEqual(base.size, 1)
    assert.strictEqual(base.bucketCount, 1, "no empty bucket left behind")
    assert.isAtMost(base.heapLength, 2 * base.bucketCount + 64, "dead heap entries compacted")
    assert.strictEqual(base.nextExpiry(), 3_600_000)
    assert.deepStrictEqual(fireDue(base, 3_600_000), ["keep"])
    assert.strictEqual(base.bucketCount, 0)
    assert.strictEqual(base.heapLength, 0)
  })

  it("an expiry re-armed after its bucket was reclaimed fires once, in order, despite its dead heap entry", () => {
    const base = new TimerBase(0)
    const fired: Array<string> = []
    const a = timer("a", fired)
    const b = timer("b", fired)
    const c = timer("c", fired)
    base.arm(a, 10)
    base.cancel(a) // bucket 10 reclaimed, its heap entry is dead
    base.arm(b, 20)
    base.arm(a, 10) // a fresh bucket 10 and a second heap entry for 10
    base.arm(c, 10)
    assert.strictEqual(base.bucketCount, 2)
    assert.strictEqual(base.nextExpiry(), 10)
    assert.deepStrictEqual(fireDue(base, 100), ["a", "c", "b"])
    assert.strictEqual(base.heapLength, 0)
  })

  it("a callback that cancels the rest of the firing bucket stops it; the bucket goes once empty", () => {
    const base = new TimerBase(0)
    const order: Array<string> = []
    const a = timer("a", order)
    const b = timer("b", order)
    base.arm(a, 5)
    base.arm(b, 5)
    base.expire(10, (node) => {
      order.push((node as Timer).id)
      if (node === a) base.cancel(b)
    })
    assert.deepStrictEqual(order, ["a"])
    assert.strictEqual(base.bucketCount, 0)
    assert.isUndefined(base.nextExpiry())
  })

  it("arm reports the earliest expiry correctly when the heap top is a dead entry", () => {
    const base = new TimerBase(0)
    const fired: Array<string> = []
    const a = timer("a", fired)
    base.arm(a, 5)
    base.arm(timer("b", fired), 50)
    base.cancel(a)
    assert.isFalse(base.arm(timer("c", fired), 60), "60 is not earlier than 50")
    assert.isTrue(base.arm(timer("d", fired), 20))
  })
})

describe("sleepUntil (the timer fiber's sleep on a Clock other than the live one)", () => {
  // a TestClock ends a sleep at `now + Duration.toMillis(d)`, summed in floating point
  const wakesAt = (fine: number, next: number) => fine + Duration.toMillis(sleepUntil(fine, next))

  it("ends at or after the expiry, summed as the TestClock sums it, for float times and sub-ns distances", () => {
    const cases: Array<[number, number]> = [
      [2.5999999999999996, 4], // 0.1 + 0.2 + 2.3: `4 - fine` as it is comes back as 3.9999999999999996
      [3.9999999999999996, 4], // an ulp short: a distance that rounds to 0 ns
      [34.362404823303223, 37],
      [0.1 + 0.2, 1],
      [1_733_000_000_000.3, 1_733_000_000_001], // epoch-sized: an ulp of 0.24 us, far above 1 ns
      [1_733_000_000_000.99, 1_733_000_000_001]
    ]
    for (const [fine, next] of cases) {
      const at = wakesAt(fine, next)
      assert.isAtLeast(at, next, `from ${fine} to ${next}: wakes at ${at}, short of the expiry`)
      assert.isAbove(at, fine, `from ${fine} to ${next}: a sleep that does not move the clock`)
    }
  })

  it("a distance too large for whole nanoseconds sleeps whole ms (was BigInt(Infinity): the timer fiber died)", () => {
    for (const [fine, next] of [
      [0, 1e303],
      [5, 1e20],
      [1_733_000_000_000, 1e300]
    ] as Array<[number, number]>) {
      const d = sleepUntil(fine, next)
      assert.isTrue(Number.isFinite(Duration.toMillis(d)), `from ${fine} to ${next}`)
      assert.isAtLeast(wakesAt(fine, next), next)
    }
  })

  it("is exact when the distance is whole nanoseconds, and late by at most a few nanoseconds otherwise", () => {
    assert.strictEqual(wakesAt(0.5, 3), 3)
    assert.strictEqual(Duration.toNanosUnsafe(sleepUntil(0.5, 3)), 2_500_000n)
    assert.isBelow(wakesAt(2.5999999999999996, 4) - 4, 1e-5)
    assert.isBelow(wakesAt(34.362404823303223, 37) - 37, 1e-5)
  })
})
