/** A growable array of int32 (or uint8) values: the per-line columns the engine builds while streaming. */
export class IntList {
  data: Int32Array;
  length = 0;
  constructor(capacity: number) {
    this.data = new Int32Array(Math.max(16, capacity));
  }
  push(v: number): void {
    if (this.length === this.data.length) this.grow();
    this.data[this.length++] = v;
  }
  get bytes(): number {
    return this.data.byteLength;
  }
  private grow(): void {
    const next = new Int32Array(Math.ceil(this.data.length * 1.5));
    next.set(this.data);
    this.data = next;
  }
}

export class ByteList {
  data: Uint8Array;
  length = 0;
  constructor(capacity: number) {
    this.data = new Uint8Array(Math.max(16, capacity));
  }
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Uint8Array(Math.ceil(this.data.length * 1.5));
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  get bytes(): number {
    return this.data.byteLength;
  }
}
