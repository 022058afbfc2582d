export {
  buildReportModel,
  renderReport,
  flattenValues,
  seriesColor,
  type ReportAssets,
  type ReportChart,
  type ReportModel,
  type ReportRow,
  type ReportSeries,
  type RenderOptions,
} from './html.js';
export { loadReportAssets, writeReportFile } from './files.js';
export { writeLiveReport, lineageOf, LiveReport, LIVE_REPORT_FILE, LIVE_REFRESH_SECONDS, type LiveReportOptions, type LiveReportEvent } from './live.js';
