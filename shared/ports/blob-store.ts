/** Cloud Storage: objects by key. */
export interface BlobStore {
  put(key: string, data: Buffer | string): Promise<void>;
  /** Appends to an object, creating it; concurrent appends to one key keep their order. */
  append(key: string, data: string): Promise<void>;
  get(key: string): Promise<Buffer | null>;
  exists(key: string): Promise<boolean>;
  delete(key: string): Promise<void>;
  list(prefix: string): Promise<string[]>;
}
