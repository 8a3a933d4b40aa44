import { SnaplineError } from '../errors.js';

/** An agent's configuration file that `hooks install/uninstall` cannot parse: it is left as it is. */
export class SettingsUnreadable extends SnaplineError {
  constructor(file: string, detail: string) {
    super('settings-unreadable', `cannot edit ${file}: ${detail}; fix it (or move it aside) and try again — nothing was changed`);
  }
}

/** A file at the place snapline writes its plugin, written by someone else: it is left as it is. */
export class NotOurFile extends SnaplineError {
  constructor(file: string) {
    super('not-our-file', `${file} exists and was not written by snapline; move it aside and try again — nothing was changed`);
  }
}
