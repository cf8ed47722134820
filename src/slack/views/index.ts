import type { App } from '@slack/bolt';
import type { SlackDeps } from '../deps.js';
import { register as registerRecords } from './records.js';
import { register as registerSchedule } from './schedule.js';

/** Modals: the records browser and the schedule form, each with the buttons that open it or live in it. */
export function register(app: App, deps: SlackDeps): void {
  registerRecords(app, deps);
  registerSchedule(app, deps);
}
