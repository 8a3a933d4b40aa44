/** A growable int32 column (one value per line), filled a batch at a time while streaming. */
export class IntList {
  data: Int32Array;
  length = 0;
  constructor(capacity: number) {
    this.data = new Int32Array(Math.max(16, capacity));
  }
  /** Empties the list, keeping its storage for reuse. */
  clear(): this {
    this.length = 0;
    return this;
  }
  /** Empties the list and gives its storage back. */
  release(): void {
    this.length = 0;
    this.data = new Int32Array(0);
  }
  /** Makes room for `n` more values. */
  reserve(n: number): void {
    if (this.length + n <= this.data.length) return;
    const next = new Int32Array(Math.max(this.length + n, Math.ceil(this.data.length * 1.25)));
    next.set(this.data.subarray(0, this.length));
    this.data = next;
  }
  /** Appends one or two values. */
  push(v: number, w?: number): void {
    this.reserve(2);
    this.data[this.length++] = v;
    if (w !== undefined) this.data[this.length++] = w;
  }
  /** Appends the first `n` values of `src`. */
  append(src: Int32Array, n: number): void {
    this.reserve(n);
    this.data.set(src.subarray(0, n), this.length);
    this.length += n;
  }
  get bytes(): number {
    return this.data.byteLength;
  }
}

/** A growable uint8 column, filled a batch at a time. */
export class ByteList {
  data: Uint8Array;
  length = 0;
  constructor(capacity: number) {
    this.data = new Uint8Array(Math.max(16, capacity));
  }
  append(src: Uint8Array, n: number): void {
    if (this.length + n > this.data.length) {
      const next = new Uint8Array(Math.max(this.length + n, Math.ceil(this.data.length * 1.25)));
      next.set(this.data.subarray(0, this.length));
      this.data = next;
    }
    this.data.set(src.subarray(0, n), this.length);
    this.length += n;
  }
  get bytes(): number {
    return this.data.byteLength;
  }
}
