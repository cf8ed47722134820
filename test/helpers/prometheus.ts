import { createRequire } from 'node:module';

/**
 * Prometheus text read back with a real parser (parse-prometheus-text-format,
 * output shaped like prom2json's), and the samples of one metric looked up by labels.
 *
 * That parser folds the samples of a histogram with labels into one and drops their
 * labels, `_sum` and `_count` (yunyu/parse-prometheus-text-format#13, open). So
 * samples are read from a second pass in which histograms are declared untyped:
 * each of `x_bucket`, `x_sum` and `x_count` is then a family of labelled samples,
 * as Prometheus itself stores them. Types come from the first pass.
 */

export interface Sample {
  labels?: Record<string, string>;
  value?: string;
}

export interface Family {
  name: string;
  help: string;
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  metrics: Sample[];
}

const parseText = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Family[];

export interface Scrape {
  families: Family[];
  family(name: string): Family | undefined;
  /** The samples of `name` whose labels include `labels` (a histogram's: `name_bucket`, `name_sum`, `name_count`). */
  samples(name: string, labels?: Record<string, string>): Sample[];
  /** The value of the one sample of `name` with `labels` (0 when there is none); more than one match throws. */
  value(name: string, labels?: Record<string, string>): number;
}

export function parsePrometheus(text: string): Scrape {
  const families = parseText(text);
  const flat = parseText(text.replace(/^# TYPE (\S+) histogram$/gm, '# TYPE $1 untyped'));
  const family = (name: string) => families.find((f) => f.name === name);
  const samples = (name: string, labels: Record<string, string> = {}) =>
    (flat.find((f) => f.name === name)?.metrics ?? []).filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return {
    families,
    family,
    samples,
    value(name, labels = {}) {
      const found = samples(name, labels);
      if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}: ${JSON.stringify(found.map((s) => s.labels))}`);
      const [s] = found;
      return s ? Number(s.value) : 0;
    },
  };
}
