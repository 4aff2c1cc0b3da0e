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
}
