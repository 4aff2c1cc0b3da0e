// Errors raised while a handler runs. The generated code attaches the source token
// ("near operator '/' at f.stp:3:9") where the error surfaced, as stap does.

/** A stap runtime error: `ERROR: <message> near <token> at <file:line:col>`. */
export class StapError extends Error {
  /** Filled in by the handler wrapper from the innermost located operation. */
  near?: string;
  /** MAXACTION and friends cannot be caught by try/catch. */
  readonly catchable: boolean;
  constructor(message: string, catchable = true) {
    super(message);
    this.name = 'StapError';
    this.catchable = catchable;
  }
}
