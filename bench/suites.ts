// The benchmark suites that run both in Node and in a browser page, by name: one table, so the
// CLI, the page and the browser runner cannot disagree about what exists.
import type { Gpu } from '../src/gpu/context.js';
import { benchConv, convMarkdown, type ConvBenchOptions, type ConvBenchReport } from './conv.js';
import { benchFirstLayer, firstLayerMarkdown, type FirstLayerBenchOptions, type FirstLayerBenchReport } from './first-layer.js';
import { benchGemm, gemmMarkdown, type GemmBenchOptions, type GemmBenchReport } from './gemm.js';
import { benchLowbit, lowbitMarkdown, type LowbitBenchOptions, type LowbitBenchReport } from './lowbit.js';
import { benchMlp, mlpMarkdown, type MlpBenchOptions, type MlpBenchReport } from './mlp.js';
import { benchModels, modelsMarkdown, type ModelsBenchOptions, type ModelsBenchReport } from './models.js';
import { benchTrain, trainMarkdown, type TrainBenchOptions, type TrainBenchReport } from './train.js';

/** Options every suite understands (each ignores what it does not use). */
export type SuiteOptions = GemmBenchOptions & LowbitBenchOptions & ConvBenchOptions & FirstLayerBenchOptions & MlpBenchOptions & ModelsBenchOptions & TrainBenchOptions;
export type SuiteReport = GemmBenchReport | LowbitBenchReport | ConvBenchReport | FirstLayerBenchReport | MlpBenchReport | ModelsBenchReport | TrainBenchReport;

interface Suite {
  run(gpu: Gpu, options: SuiteOptions): Promise<SuiteReport>;
  markdown(report: SuiteReport): string;
}

export const SUITES = {
  gemm: { run: benchGemm, markdown: (r) => gemmMarkdown(r as GemmBenchReport) },
  lowbit: { run: benchLowbit, markdown: (r) => lowbitMarkdown(r as LowbitBenchReport) },
  conv: { run: benchConv, markdown: (r) => convMarkdown(r as ConvBenchReport) },
  'first-layer': { run: benchFirstLayer, markdown: (r) => firstLayerMarkdown(r as FirstLayerBenchReport) },
  mlp: { run: benchMlp, markdown: (r) => mlpMarkdown(r as MlpBenchReport) },
  models: { run: benchModels, markdown: (r) => modelsMarkdown(r as ModelsBenchReport) },
  train: { run: benchTrain, markdown: (r) => trainMarkdown(r as TrainBenchReport) },
} satisfies Record<string, Suite>;

export type SuiteName = keyof typeof SUITES;

export function isSuiteName(name: string | undefined): name is SuiteName {
  return name !== undefined && Object.hasOwn(SUITES, name);
}
