/**
 * Intrusive doubly linked FIFO lists: the kernel's `struct list_head` for work items.
 *
 * A node carries its own links (`next`, `prev`) and a pointer to the list it is on (`list`), so queueing,
 * activation and cancel are O(1) and allocate nothing per item (fastq's discipline). A node is on at most one
 * list at a time. Exclusion rule for every field here: L (see `state.ts`) — one synchronous step.
 *
 * @internal
 */

/** The links of a node on a `WorkList`: no pointer to the list (a work item knows its list from its state). @internal */
export interface Link {
  next: Link | undefined // L: next node on its list
  prev: Link | undefined // L: previous node on its list
}

/** @internal */
export interface Node extends Link {
  next: Node | undefined // L: next node on `list`
  prev: Node | undefined // L: previous node on `list`
  list: List<any> | undefined // L: the list this node is on, if any
}

/** @internal */
export class List<A extends Node> {
  head: A | undefined = undefined // L
  tail: A | undefined = undefined // L
  length = 0 // L

  /** `list_add_tail()` */
  push(node: A): void {
    node.list = this
    node.next = undefined
    node.prev = this.tail
    if (this.tail === undefined) this.head = node
    else this.tail.next = node
    this.tail = node
    this.length++
  }

  /** `list_add()` at the head */
  unshift(node: A): void {
    node.list = this
    node.prev = undefined
    node.next = this.head
    if (this.head === undefined) this.tail = node
    else this.head.prev = node
    this.head = node
    this.length++
  }

  /** `list_del_init()`; the node must be on this list */
  remove(node: A): void {
    const prev = node.prev
    const next = node.next
    if (prev === undefined) this.head = next as A | undefined
    else prev.next = next
    if (next === undefined) this.tail = prev as A | undefined
    else next.prev = prev
    node.next = undefined
    node.prev = undefined
    node.list = undefined
    this.length--
  }

  shift(): A | undefined {
    const node = this.head
    if (node !== undefined) this.remove(node)
    return node
  }

  *[Symbol.iterator](): IterableIterator<A> {
    for (let node = this.head; node !== undefined; node = node.next as A | undefined) yield node
  }
}

/**
 * A `List` whose nodes do not point back at it: the pool worklists, the pwqs' inactive lists and the workers'
 * scheduled lists of work items. An item on one of them knows which from its state (`workList` in `core.ts`), so
 * it carries no list pointer (8 bytes less per item, a million pending items: 8 MB). Same operations, same rules.
 * @internal
 */
export class WorkList<A extends Link> {
  head: A | undefined = undefined // L
  tail: A | undefined = undefined // L
  length = 0 // L

  /** `list_add_tail()` */
  push(node: A): void {
    node.next = undefined
    node.prev = this.tail
    if (this.tail === undefined) this.head = node
    else this.tail.next = node
    this.tail = node
    this.length++
  }

  /** `list_del_init()`; the node must be on this list */
  remove(node: A): void {
    const prev = node.prev
    const next = node.next
    if (prev === undefined) this.head = next as A | undefined
    else prev.next = next
    if (next === undefined) this.tail = prev as A | undefined
    else next.prev = prev
    node.next = undefined
    node.prev = undefined
    this.length--
  }

  shift(): A | undefined {
    const node = this.head
    if (node !== undefined) this.remove(node)
    return node
  }

  *[Symbol.iterator](): IterableIterator<A> {
    for (let node = this.head; node !== undefined; node = node.next as A | undefined) yield node
  }
}
