/**
 * The instance actions the pages offer, one table: the action body the compute API takes and
 * the statuses it makes sense in (the API is the judge; this only hides buttons that would 409).
 */
export interface ServerAction {
  id: string;
  label: string;
  body: Record<string, unknown>;
  when: readonly string[];
}

export const SERVER_ACTIONS: readonly ServerAction[] = [
  { id: 'stop', label: 'Stop', body: { 'os-stop': null }, when: ['ACTIVE', 'ERROR'] },
  { id: 'start', label: 'Start', body: { 'os-start': null }, when: ['SHUTOFF'] },
  { id: 'reboot', label: 'Reboot', body: { reboot: { type: 'SOFT' } }, when: ['ACTIVE'] },
  { id: 'hard-reboot', label: 'Hard reboot', body: { reboot: { type: 'HARD' } }, when: ['ACTIVE', 'SHUTOFF', 'ERROR'] },
  { id: 'pause', label: 'Pause', body: { pause: null }, when: ['ACTIVE'] },
  { id: 'unpause', label: 'Unpause', body: { unpause: null }, when: ['PAUSED'] },
  { id: 'suspend', label: 'Suspend', body: { suspend: null }, when: ['ACTIVE'] },
  { id: 'resume', label: 'Resume', body: { resume: null }, when: ['SUSPENDED'] },
  { id: 'shelve', label: 'Shelve', body: { shelve: null }, when: ['ACTIVE', 'SHUTOFF'] },
  { id: 'unshelve', label: 'Unshelve', body: { unshelve: null }, when: ['SHELVED', 'SHELVED_OFFLOADED'] },
];

/** Statuses a server settles in; anything else is on its way somewhere. */
export const STEADY = new Set(['ACTIVE', 'SHUTOFF', 'PAUSED', 'SUSPENDED', 'ERROR', 'SHELVED', 'SHELVED_OFFLOADED', 'RESCUE', 'VERIFY_RESIZE']);
