import { assert, describe, it } from "@effect/vitest"
import { List, type Node } from "../../src/internal/list.ts"

interface Item extends Node {
  readonly id: string
}

const item = (id: string): Item => ({ id, next: undefined, prev: undefined, list: undefined })
const ids = (list: List<Item>) => [...list].map((i) => i.id)

describe("internal/list", () => {
  it("push appends at the tail and keeps FIFO order (list_add_tail)", () => {
    const list = new List<Item>()
    const [a, b, c] = [item("a"), item("b"), item("c")]
    list.push(a)
    list.push(b)
    list.push(c)
    assert.deepStrictEqual(ids(list), ["a", "b", "c"])
    assert.strictEqual(list.length, 3)
    assert.strictEqual(list.head, a)
    assert.strictEqual(list.tail, c)
    assert.strictEqual(b.list, list)
  })

  it("unshift inserts at the head (list_add)", () => {
    const list = new List<Item>()
    list.unshift(item("b"))
    list.unshift(item("a"))
    list.push(item("c"))
    assert.deepStrictEqual(ids(list), ["a", "b", "c"])
  })

  it("remove unlinks a node from the head, middle or tail and clears its links (list_del_init)", () => {
    const list = new List<Item>()
    const nodes = ["a", "b", "c", "d"].map(item)
    for (const n of nodes) list.push(n)
    list.remove(nodes[1]!)
    assert.deepStrictEqual(ids(list), ["a", "c", "d"])
    list.remove(nodes[0]!)
    assert.deepStrictEqual(ids(list), ["c", "d"])
    list.remove(nodes[3]!)
    assert.deepStrictEqual(ids(list), ["c"])
    assert.strictEqual(list.head, nodes[2])
    assert.strictEqual(list.tail, nodes[2])
    for (const n of [nodes[0]!, nodes[1]!, nodes[3]!]) {
      assert.isUndefined(n.next)
      assert.isUndefined(n.prev)
      assert.isUndefined(n.list)
    }
    list.remove(nodes[2]!)
    assert.strictEqual(list.length, 0)
    assert.isUndefined(list.head)
    assert.isUndefined(list.tail)
  })

  it("shift takes the head, undefined when empty", () => {
    const list = new List<Item>()
    assert.isUndefined(list.shift())
    list.push(item("a"))
    list.push(item("b"))
    assert.strictEqual(list.shift()!.id, "a")
    assert.strictEqual(list.shift()!.id, "b")
    assert.isUndefined(list.shift())
    assert.strictEqual(list.length, 0)
  })

  it("a removed node can be pushed onto another list (a node is on at most one list)", () => {
    const one = new List<Item>()
    const two = new List<Item>()
    const a = item("a")
    one.push(a)
    one.remove(a)
    two.push(a)
    assert.strictEqual(a.list, two)
    assert.deepStrictEqual(ids(one), [])
    assert.deepStrictEqual(ids(two), ["a"])
  })
})
