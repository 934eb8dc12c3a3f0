// The candlestick chart (TradingView Lightweight Charts, vendored: window.LightweightCharts)
// and the depth chart (a canvas). Charts are the one place where amounts become
// JavaScript numbers: to plot them. Everything shown as text stays a decimal string.

import { setText } from "./dom.js";
import { places, toNumber } from "./decimal.js";

const UP = "#26a69a";
const DOWN = "#ef5350";

export class CandleChart {
  constructor(container, legend) {
    const charts = window.LightweightCharts;
    this.legend = legend;
    this.chart = charts.createChart(container, {
      autoSize: true,
      // The library's attribution logo injects an inline <style>, which the page's
      // Content-Security-Policy refuses; the page links to TradingView beside the chart.
      layout: { background: { type: "solid", color: "#131a26" }, textColor: "#b8c0cc", attributionLogo: false },
      grid: { vertLines: { color: "#1f2836" }, horzLines: { color: "#1f2836" } },
      timeScale: { timeVisible: true, secondsVisible: false, borderColor: "#2a3444", barSpacing: 12, rightOffset: 4 },
      rightPriceScale: { borderColor: "#2a3444", scaleMargins: { top: 0.1, bottom: 0.28 } },
      crosshair: { mode: 0 },
    });
    this.candles = this.chart.addCandlestickSeries({
      upColor: UP,
      downColor: DOWN,
      borderVisible: false,
      wickUpColor: UP,
      wickDownColor: DOWN,
    });
    this.volume = this.chart.addHistogramSeries({ priceScaleId: "volume", priceFormat: { type: "volume" } });
    this.chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.78, bottom: 0 } });
    this.lastTime = null;
  }

  setMarket(market) {
    const precision = places(market.tick_size);
    this.candles.applyOptions({
      priceFormat: { type: "price", precision, minMove: toNumber(market.tick_size) },
    });
  }

  /** REST candles, oldest first; buckets without trades (null prices) are left out. */
  setHistory(candles) {
    const traded = candles.filter((candle) => candle.open !== null);
    this.candles.setData(traded.map(bar));
    this.volume.setData(traded.map(volumeBar));
    this.lastTime = traded.length ? traded[traded.length - 1].open_time : null;
    this._legend(traded.length ? traded[traded.length - 1] : null);
  }

  /** A candle from the live channel: the current bucket, or the final state of one. */
  update(candle) {
    if (candle.open === null) return;
    if (this.lastTime !== null && candle.open_time < this.lastTime) return;
    this.candles.update(bar(candle));
    this.volume.update(volumeBar(candle));
    this.lastTime = candle.open_time;
    this._legend(candle);
  }

  _legend(candle) {
    if (candle === null) {
      setText(this.legend, "no trades yet");
      this.legend.dataset.close = "";
      this.legend.dataset.volume = "";
      return;
    }
    setText(
      this.legend,
      `O ${candle.open}  H ${candle.high}  L ${candle.low}  C ${candle.close}  V ${candle.volume}  (${candle.trades} trades)`,
    );
    this.legend.dataset.close = candle.close;
    this.legend.dataset.volume = candle.volume;
    this.legend.dataset.openTime = String(candle.open_time);
  }
}

function bar(candle) {
  return {
    time: Math.floor(candle.open_time / 1000),
    open: toNumber(candle.open),
    high: toNumber(candle.high),
    low: toNumber(candle.low),
    close: toNumber(candle.close),
  };
}

function volumeBar(candle) {
  const rising = toNumber(candle.close) >= toNumber(candle.open);
  return {
    time: Math.floor(candle.open_time / 1000),
    value: toNumber(candle.volume),
    color: rising ? "rgba(38,166,154,0.45)" : "rgba(239,83,80,0.45)",
  };
}

/** Cumulative bid and ask quantity by price, as two stepped areas. */
export class DepthChart {
  constructor(canvas) {
    this.canvas = canvas;
    this.bids = [];
    this.asks = [];
    this.scheduled = false;
    new ResizeObserver(() => this.schedule()).observe(canvas);
  }

  /** Levels as Book.levels gives them: [price, quantity, cumulative], best first. */
  set(bids, asks) {
    this.bids = bids.map(([price, , total]) => [toNumber(price), toNumber(total)]);
    this.asks = asks.map(([price, , total]) => [toNumber(price), toNumber(total)]);
    this.schedule();
  }

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this._draw();
    });
  }

  _draw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (width === 0 || height === 0) return;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    const bottom = 18;
    const plotHeight = height - bottom - 6;
    context.fillStyle = "#6b7686";
    context.font = "11px sans-serif";
    if (this.bids.length === 0 && this.asks.length === 0) {
      context.fillText("no orders in the book", 8, height / 2);
      return;
    }
    const prices = [...this.bids, ...this.asks].map(([price]) => price);
    let low = Math.min(...prices);
    let high = Math.max(...prices);
    if (high === low) {
      low -= 1;
      high += 1;
    }
    const maxTotal = Math.max(...[...this.bids, ...this.asks].map(([, total]) => total));
    const x = (price) => ((price - low) / (high - low)) * (width - 16) + 8;
    const y = (total) => 6 + plotHeight - (total / maxTotal) * plotHeight;
    const area = (points, stroke, fill) => {
      if (points.length === 0) return;
      context.beginPath();
      context.moveTo(x(points[0][0]), y(0));
      for (const [price, total] of points) context.lineTo(x(price), y(total));
      context.lineTo(x(points[points.length - 1][0]), y(0));
      context.closePath();
      context.fillStyle = fill;
      context.fill();
      context.strokeStyle = stroke;
      context.lineWidth = 1.5;
      context.stroke();
    };
    area(stepped(this.bids), UP, "rgba(38,166,154,0.25)");
    area(stepped(this.asks), DOWN, "rgba(239,83,80,0.25)");
    context.fillStyle = "#6b7686";
    context.fillText(String(low), 8, height - 4);
    const highText = String(high);
    context.fillText(highText, width - 8 - context.measureText(highText).width, height - 4);
  }
}

/** Points of a stepped line: each level's cumulative total holds until the next price. */
function stepped(levels) {
  const points = [];
  let previous = 0;
  for (const [price, total] of levels) {
    points.push([price, previous]);
    points.push([price, total]);
    previous = total;
  }
  return points;
}
