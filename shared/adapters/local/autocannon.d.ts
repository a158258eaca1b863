// autocannon ships no types: the part of its API the load generator uses.
declare module 'autocannon' {
  interface Options {
    url: string;
    connections?: number;
    duration?: number;
    timeout?: number;
    headers?: Record<string, string>;
  }
  interface Histogram {
    average: number;
    max: number;
  }
  interface Result {
    latency: Histogram;
    errors: number;
    timeouts: number;
    '2xx': number;
    non2xx: number;
    duration: number;
  }
  function autocannon(opts: Options): Promise<Result>;
  export default autocannon;
}
