/**
 * SensorService in idiomatic form: an async iterable of readings (and config changes) in,
 * an async iterable of events out. The request side is pulled only as fast as HTTP/2 flow
 * control lets it go, so a consumer that stops reading slows the producer down instead of
 * buffering without bound.
 */
import { create } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import { transportOptions, type CallOptions } from "./call.js";
import { UINT32_MAX, checkCount, fromDate, linkedController, msToDuration, toDate } from "./convert.js";
import { toStreamgateError } from "./errors.js";
import {
  AlertState,
  FeedConfigSchema,
  RejectCode,
  SensorFeedRequestSchema,
  SensorReadingSchema,
  SensorService,
  Severity,
  type SensorFeedRequest,
  type SensorFeedResponse,
  type WindowStats as PbWindowStats,
} from "./gen/streamgate/v1/sensor_pb.js";

/** One raw reading. */
export interface SensorReadingInput {
  sensorId: string;
  /** Degrees Celsius. */
  temperature: number;
  /** Relative humidity, percent. */
  humidity: number;
  /** Default: the time the server receives it. */
  timestamp?: Date;
}

/** Changes processing of the readings that follow it; unset fields keep their value. */
export interface FeedConfigInput {
  /** "" or unset = every sensor on the stream. */
  sensorId?: string;
  /** Alert threshold, °C (default 28). */
  threshold?: number;
  warn?: number;
  crit?: number;
  hysteresis?: number;
  windowCount?: number;
  windowDurationMs?: number;
  /** Send a SILENT alert after this long without a reading from a sensor. */
  missingTimeoutMs?: number;
}

/** What the feed accepts: a reading, or `{ config }`. */
export type SensorInput = SensorReadingInput | { config: FeedConfigInput };

/** Min/max/mean over the configured window. */
export interface WindowStats {
  count: number;
  minC: number;
  maxC: number;
  meanC: number;
}

/** A processed reading: one per accepted reading, in order. */
export interface ReadingEvent {
  kind: "reading";
  sensorId: string;
  tempC: number;
  tempF: number;
  humidity: number;
  /** Temperature above this sensor's threshold. */
  alert: boolean;
  timestamp: Date | undefined;
  window: WindowStats | undefined;
}

/** A state change of one sensor. */
export interface AlertEvent {
  kind: "alert";
  sensorId: string;
  state: "firing" | "resolved" | "silent" | "unspecified";
  severity: "warn" | "crit" | "unspecified";
  tempC: number;
  threshold: number;
  at: Date | undefined;
  message: string;
  window: WindowStats | undefined;
}

/** A reading the server refused (the stream goes on). */
export interface RejectedEvent {
  kind: "rejected";
  sensorId: string;
  reason: string;
  /** e.g. "NOT_FINITE", "EMPTY_SENSOR_ID" (RejectCode without its prefix). */
  code: string;
}

/** A config the server refused; the previous config stays in force. */
export interface ConfigRejectedEvent {
  kind: "configRejected";
  sensorId: string;
  reason: string;
}

/** What the feed yields. */
export type SensorEvent = ReadingEvent | AlertEvent | RejectedEvent | ConfigRejectedEvent;

function toRequest(input: SensorInput): SensorFeedRequest {
  if ("config" in input) {
    const c = input.config;
    return create(SensorFeedRequestSchema, {
      msg: {
        case: "config",
        value: create(FeedConfigSchema, {
          sensorId: c.sensorId ?? "",
          threshold: c.threshold,
          warn: c.warn,
          crit: c.crit,
          hysteresis: c.hysteresis,
          windowCount: c.windowCount === undefined ? undefined : checkCount(c.windowCount, "windowCount", UINT32_MAX),
          windowDuration: msToDuration(c.windowDurationMs, "windowDurationMs"),
          missingTimeout: msToDuration(c.missingTimeoutMs, "missingTimeoutMs"),
        }),
      },
    });
  }
  return create(SensorFeedRequestSchema, {
    msg: {
      case: "reading",
      value: create(SensorReadingSchema, {
        sensorId: input.sensorId,
        temperature: input.temperature,
        humidity: input.humidity,
        timestamp: fromDate(input.timestamp),
      }),
    },
  });
}

function toWindow(w: PbWindowStats | undefined): WindowStats | undefined {
  return w === undefined ? undefined : { count: w.count, minC: w.minC, maxC: w.maxC, meanC: w.meanC };
}

const alertStates: Record<AlertState, AlertEvent["state"]> = {
  [AlertState.UNSPECIFIED]: "unspecified",
  [AlertState.FIRING]: "firing",
  [AlertState.RESOLVED]: "resolved",
  [AlertState.SILENT]: "silent",
};

const severities: Record<Severity, AlertEvent["severity"]> = {
  [Severity.UNSPECIFIED]: "unspecified",
  [Severity.WARN]: "warn",
  [Severity.CRIT]: "crit",
};

function toEvent(res: SensorFeedResponse): SensorEvent | undefined {
  const m = res.msg;
  switch (m.case) {
    case "reading": {
      const r = m.value;
      return {
        kind: "reading",
        sensorId: r.sensorId,
        tempC: r.tempC,
        tempF: r.tempF,
        humidity: r.humidity,
        alert: r.alert,
        timestamp: toDate(r.timestamp),
        window: toWindow(r.window),
      };
    }
    case "alert": {
      const a = m.value;
      return {
        kind: "alert",
        sensorId: a.sensorId,
        state: alertStates[a.state] ?? "unspecified",
        severity: severities[a.severity] ?? "unspecified",
        tempC: a.tempC,
        threshold: a.threshold,
        at: toDate(a.at),
        message: a.message,
        window: toWindow(a.window),
      };
    }
    case "rejected":
      return {
        kind: "rejected",
        sensorId: m.value.sensorId,
        reason: m.value.reason,
        code: RejectCode[m.value.code] ?? String(m.value.code),
      };
    case "configRejected":
      return { kind: "configRejected", sensorId: m.value.sensorId, reason: m.value.reason };
    default:
      // A response kind added to the contract after this client was generated.
      return undefined;
  }
}

async function* toRequests(inputs: AsyncIterable<SensorInput> | Iterable<SensorInput>): AsyncGenerator<SensorFeedRequest> {
  for await (const input of inputs) yield toRequest(input);
}

/** Runs one SensorFeed stream. */
export async function* sensorFeed(
  client: Client<typeof SensorService>,
  inputs: AsyncIterable<SensorInput> | Iterable<SensorInput>,
  opts: CallOptions = {},
): AsyncGenerator<SensorEvent, void, undefined> {
  // Cancelling on early exit ends the server's side too, and with it the pull on `inputs`.
  const { controller, unlink } = linkedController(opts.signal);
  try {
    for await (const res of client.sensorFeed(toRequests(inputs), transportOptions(opts, controller.signal))) {
      const event = toEvent(res);
      if (event !== undefined) yield event;
    }
  } catch (err) {
    throw toStreamgateError(err);
  } finally {
    unlink();
    controller.abort();
  }
}
