#!/usr/bin/env node
// Reports a service's calls to tetherd the way a user's OpenTelemetry SDK
// would: a MeterProvider with a PeriodicExportingMetricReader and the
// OTLP/gRPC metric exporter, one forced flush.
//
//   node export_activity.js ENDPOINT TOKEN TEMPORALITY SERVICE
//
// ENDPOINT is host:port (plaintext gRPC); TOKEN goes out as
// `authorization: Bearer TOKEN` (empty: no authorization); TEMPORALITY is
// "cumulative" or "delta"; SERVICE names the resource (service.name and
// tether.service). Prints one JSON line on stdout:
//   {"ok":true,"exports":[{"code":0,"dataPoints":4}],
//    "partialSuccess":[{"rejectedDataPoints":"1",...}]}
// and exits 0 when every export succeeded, 1 when one failed, 2 on bad usage.

'use strict';

const grpc = require('@grpc/grpc-js');
const api = require('@opentelemetry/api');
const {
  OTLPMetricExporter,
} = require('@opentelemetry/exporter-metrics-otlp-grpc');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const {
  AggregationTemporality,
  MeterProvider,
  PeriodicExportingMetricReader,
} = require('@opentelemetry/sdk-metrics');

const PARTIAL_SUCCESS = 'Received Partial Success response:';

function usage(message) {
  process.stderr.write(
      `export_activity.js: ${message}\n` +
      'usage: node export_activity.js ENDPOINT TOKEN ' +
      'cumulative|delta SERVICE\n');
  process.exit(2);
}

function countDataPoints(resourceMetrics) {
  let count = 0;
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) count += metric.dataPoints.length;
  }
  return count;
}

async function main() {
  const [endpoint, token, temporality, service] = process.argv.slice(2);
  if (!endpoint || token === undefined || !service) {
    usage('expected 4 arguments');
  }
  // The exporter takes AggregationTemporality for its preference (the
  // grpc package does not re-export AggregationTemporalityPreference); with
  // DELTA, UpDownCounters stay cumulative, as the specification says.
  const preferences = {
    cumulative: AggregationTemporality.CUMULATIVE,
    delta: AggregationTemporality.DELTA,
  };
  if (!(temporality in preferences)) {
    usage(`temporality must be cumulative or delta, got "${temporality}"`);
  }

  // The exporter reports partial success only through the diag logger.
  const partialSuccess = [];
  const errors = [];
  api.diag.setLogger({
    error: (...args) => errors.push(args.map(String).join(' ').slice(0, 500)),
    warn: (message, detail) => {
      if (message === PARTIAL_SUCCESS) partialSuccess.push(JSON.parse(detail));
    },
    info: () => {},
    debug: () => {},
    verbose: () => {},
  }, api.DiagLogLevel.WARN);

  const metadata = new grpc.Metadata();
  if (token) metadata.set('authorization', `Bearer ${token}`);
  const exporter = new OTLPMetricExporter({
    url: `http://${endpoint}`,
    credentials: grpc.credentials.createInsecure(),
    metadata,
    temporalityPreference: preferences[temporality],
    timeoutMillis: 10000,
  });
  // What each export sent and how it ended, for the JSON line.
  const exports = [];
  const exportThrough = exporter.export.bind(exporter);
  exporter.export = (resourceMetrics, done) => {
    const dataPoints = countDataPoints(resourceMetrics);
    exportThrough(resourceMetrics, (result) => {
      exports.push({
        code: result.code,
        dataPoints,
        error: result.error ? String(result.error.message) : undefined,
      });
      done(result);
    });
  };

  // A long interval: only the forced flush exports.
  const reader = new PeriodicExportingMetricReader({
    exporter,
    exportIntervalMillis: 600000,
    exportTimeoutMillis: 15000,
  });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({
      'service.name': service,
      'tether.service': service,
    }),
    readers: [reader],
  });
  const meter = provider.getMeter('tether-otel-js-test');
  const started = meter.createCounter('tether.calls.started');
  const finished = meter.createCounter('tether.calls.finished');
  const inFlight = meter.createUpDownCounter('tether.calls.in_flight');
  // Tether does not read this one: tetherd counts its points as rejected.
  const duration = meter.createHistogram('http.server.duration', {unit: 'ms'});
  for (let i = 0; i < 3; ++i) {
    started.add(1);
    inFlight.add(1);
  }
  for (let i = 0; i < 2; ++i) {
    finished.add(1);
    inFlight.add(-1);
    duration.record(12.5);
  }

  let flushError;
  try {
    await reader.forceFlush();
  } catch (error) {
    flushError = String(error && error.message ? error.message : error);
  }
  const ok = flushError === undefined && exports.length > 0 &&
      exports.every((e) => e.code === 0);
  process.stdout.write(JSON.stringify({
    ok,
    temporality,
    exports,
    partialSuccess,
    errors,
    flushError,
  }) + '\n');
  // No provider.shutdown(): it would export once more, and the test counts
  // exactly the exports reported here.
  process.exit(ok ? 0 : 1);
}

main().catch((error) => {
  process.stdout.write(JSON.stringify({ok: false, flushError: String(error)}) +
                       '\n');
  process.exit(1);
});
