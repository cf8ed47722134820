/** A stored timestamp as the ISO string the API, the CLI and Slack carry (UTC); no date stays null. */
export const iso = (d: Date | string | null | undefined): string | null => (d ? new Date(d).toISOString() : null);
