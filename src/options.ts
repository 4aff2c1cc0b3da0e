/** Everything the command line says, as the passes see it. */
export interface Options {
  /** Script file name, or undefined with -e. */
  scriptFile?: string;
  /** -e SCRIPT. */
  scriptText?: string;
  /** -E SCRIPT (extra scripts, repeatable). */
  extraScripts: string[];
  args: string[];
  lastPass: number;
  verbose: number;
  guru: boolean;
  includeDirs: string[];
  defines: Map<string, string>;
  globalsInit: Map<string, string>;
  command?: string;
  targetPid?: number;
  outputFile?: string;
  bufferMB?: number;
  timeoutSeconds?: number;
  unoptimized: boolean;
  suppressWarnings: boolean;
  warningsAsErrors: boolean;
  listProbes?: string;
  listProbesWithVars?: string;
  kernelRelease?: string;
  /** --skip-badvars: context variables that cannot be resolved read as 0. */
  skipBadVars?: boolean;
  /** --suppress-handler-errors: a handler's runtime error ends that handler only, silently. */
  suppressHandlerErrors?: boolean;
  /** --suppress-time-limits: no MAXACTION limit. */
  suppressTimeLimits?: boolean;
  /** --no-global-var-display: no end-of-run display of globals written but never read. */
  noGlobalVarDisplay?: boolean;
}
