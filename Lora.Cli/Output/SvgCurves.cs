using System.Globalization;
using System.Text;

namespace Lora.Cli.Output;

/// <summary>One named series of per-epoch values, drawn as a polyline.</summary>
internal sealed record Series(string Name, string Color, IReadOnlyList<double> Values);

/// <summary>Writes loss and accuracy curves as a self-contained SVG, by hand, readable in any browser.</summary>
internal static class SvgCurves
{
    const int PanelWidth = 420, PanelHeight = 260, Margin = 48;

    /// <summary>Two panels side by side: loss per epoch and accuracy per epoch, one polyline per series.</summary>
    public static string Render(string title, IReadOnlyList<Series> loss, IReadOnlyList<Series> accuracy)
    {
        var sb = new StringBuilder();
        int width = 2 * (PanelWidth + Margin) + Margin, height = PanelHeight + 2 * Margin + 30;
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        sb.Append(CultureInfo.InvariantCulture, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{width / 2}\" y=\"20\" text-anchor=\"middle\" font-size=\"15\">{Escape(title)}</text>\n");
        Panel(sb, Margin, Margin, "loss", loss, fixedRange: null);
        Panel(sb, 2 * Margin + PanelWidth, Margin, "accuracy", accuracy, fixedRange: (0, 1));
        Legend(sb, Margin, PanelHeight + Margin + 36, loss.Count > 0 ? loss : accuracy);
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    static void Panel(StringBuilder sb, int x0, int y0, string label, IReadOnlyList<Series> series, (double Lo, double Hi)? fixedRange)
    {
        var all = series.SelectMany(s => s.Values).Where(double.IsFinite).ToList();
        double lo = fixedRange?.Lo ?? (all.Count > 0 ? Math.Min(0, all.Min()) : 0);
        double hi = fixedRange?.Hi ?? (all.Count > 0 ? all.Max() : 1);
        if (hi <= lo) hi = lo + 1;
        int epochs = Math.Max(1, series.Count == 0 ? 1 : series.Max(s => s.Values.Count));
        sb.Append(CultureInfo.InvariantCulture, $"<g transform=\"translate({x0},{y0})\">\n");
        sb.Append(CultureInfo.InvariantCulture, $"<rect width=\"{PanelWidth}\" height=\"{PanelHeight}\" fill=\"none\" stroke=\"#888\"/>\n");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{PanelWidth / 2}\" y=\"-8\" text-anchor=\"middle\">{label} per epoch</text>\n");
        for (int t = 0; t <= 4; t++)
        {
            double v = lo + (hi - lo) * t / 4;
            double y = PanelHeight - PanelHeight * t / 4.0;
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"0\" x2=\"{PanelWidth}\" y1=\"{y:0.#}\" y2=\"{y:0.#}\" stroke=\"#eee\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"-4\" y=\"{y + 4:0.#}\" text-anchor=\"end\">{v:0.###}</text>\n");
        }
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{PanelWidth / 2}\" y=\"{PanelHeight + 28}\" text-anchor=\"middle\">epoch (1–{epochs})</text>\n");
        foreach (var s in series)
        {
            if (s.Values.Count == 0) continue;
            var pts = new StringBuilder();
            for (int i = 0; i < s.Values.Count; i++)
            {
                double v = double.IsFinite(s.Values[i]) ? Math.Clamp(s.Values[i], lo, hi) : hi;
                double x = epochs == 1 ? PanelWidth / 2.0 : PanelWidth * i / (double)(epochs - 1);
                double y = PanelHeight - PanelHeight * (v - lo) / (hi - lo);
                pts.Append(CultureInfo.InvariantCulture, $"{x:0.##},{y:0.##} ");
            }
            sb.Append(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{s.Color}\" stroke-width=\"2\" points=\"{pts.ToString().TrimEnd()}\"/>\n");
        }
        sb.Append("</g>\n");
    }

    static void Legend(StringBuilder sb, int x, int y, IReadOnlyList<Series> series)
    {
        for (int i = 0; i < series.Count; i++)
        {
            int lx = x + i * 180;
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{lx}\" x2=\"{lx + 24}\" y1=\"{y - 4}\" y2=\"{y - 4}\" stroke=\"{series[i].Color}\" stroke-width=\"3\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{lx + 30}\" y=\"{y}\">{Escape(series[i].Name)}</text>\n");
        }
    }

    static string Escape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;");
}
