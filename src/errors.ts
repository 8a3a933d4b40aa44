/** Every failure snapline reports to a user is a SnaplineError with a stable `code`. */
export class SnaplineError extends Error {
  readonly code: string;
  /** Process exit code the CLI uses for this failure. */
  readonly exitCode: number;
  constructor(code: string, message: string, exitCode = 1) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** The command line or an API call was given arguments that cannot work. */
export class UsageError extends SnaplineError {
  constructor(message: string) {
    super('usage', message, 2);
  }
}

/** A git child process failed; carries git's own message. */
export class GitError extends SnaplineError {
  readonly args: readonly string[];
  readonly stderr: string;
  readonly status: number | null;
  constructor(args: readonly string[], status: number | null, stderr: string, message?: string) {
    const first = stderr.trim().split('\n').find((l) => l.trim() !== '') ?? `exited with ${status}`;
    super('git', message ?? `git ${args.find((a) => !a.startsWith('-')) ?? ''}: ${first.replace(/^(fatal|error): /, '')}`);
    this.args = args;
    this.stderr = stderr;
    this.status = status;
  }
}

/** The directory given is not a git repository (or its git dir is missing). */
export class NotARepository extends SnaplineError {
  constructor(path: string) {
    super('not-a-repository', `not a git repository: ${path}`);
  }
}

/** A revision, tree or object id does not name anything in the repository. */
export class UnknownRevision extends SnaplineError {
  constructor(rev: string) {
    super('unknown-revision', `unknown revision or tree: ${rev}`);
  }
}

/** An object the repository should hold is missing or unreadable. */
export class MissingObject extends SnaplineError {
  constructor(oid: string, detail = 'missing') {
    super('missing-object', `object ${oid} is ${detail}`);
  }
}

/** A path argument names nothing in either side of a comparison. */
export class UnknownPath extends SnaplineError {
  readonly path: string;
  constructor(path: string) {
    super('unknown-path', `path not in either tree: ${path}`);
    this.path = path;
  }
}
