package admin

import (
	"context"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/templates"
)

// The admin home's charts: sign-ins per provider per day and tokens issued per
// day over the last chartDays UTC days, with refusals beside them, drawn as SVG
// on the server from per-day counts (store.Audit.CountByDay), each with a
// table of its numbers.

const chartDays = 14

// Chart geometry, in SVG user units.
const (
	chartWidth  = 640
	chartHeight = 220
	chartLeft   = 36 // the y-axis labels
	chartTop    = 12
	chartBottom = 24 // the x-axis labels
)

// chartColors are the series' colours (successes; cycled), and the refusals'
// colour. Each reads on both the light and the dark page background.
var (
	chartColors  = []string{"#3b7dd8", "#2f9e5b", "#c98a1b", "#8a63d2", "#2aa1a8", "#7a8696"}
	refusalColor = "#d64545"
)

// homeCharts builds the two charts for the days up to and including now's.
func (a *Server) homeCharts(ctx context.Context) ([]templates.AdminChart, error) {
	today := a.Now().UTC().Truncate(24 * time.Hour)
	since, until := today.AddDate(0, 0, 1-chartDays), today.AddDate(0, 0, 1)
	audit := a.web.Store.Audit()
	signins, err := audit.CountByDay(ctx, store.AuditDayQuery{Actions: []string{"signin.succeeded", "signin.refused"},
		Since: since, Until: until, ByTarget: true})
	if err != nil {
		return nil, err
	}
	tokens, err := audit.CountByDay(ctx, store.AuditDayQuery{Actions: []string{"token.issued", "token.exchanged", "oauth.rejected"},
		Since: since, Until: until})
	if err != nil {
		return nil, err
	}
	// Sign-ins: a series per provider (the target of signin.succeeded), and
	// the refusals of all providers together.
	var providers []string
	for _, c := range signins {
		if c.Action == "signin.succeeded" && !slices.Contains(providers, c.Target) {
			providers = append(providers, c.Target)
		}
	}
	slices.Sort(providers)
	var series []templates.AdminChartSeries
	for _, p := range providers {
		series = append(series, templates.AdminChartSeries{Name: p})
	}
	chartSignins := buildChart("signins", templates.M("Sign-ins per provider per day"),
		templates.M("Successful sign-ins stacked by provider, and refused sign-ins in red, for each of the last %d days (UTC).", chartDays),
		since, series, func(c store.AuditDayCount) (string, bool) {
			if c.Action == "signin.refused" {
				return "", true
			}
			return c.Target, false
		}, signins)
	chartTokens := buildChart("tokens", templates.M("Tokens issued per day"),
		templates.M("Access tokens issued (including token exchanges), and refused OAuth requests in red, for each of the last %d days (UTC).", chartDays),
		since, []templates.AdminChartSeries{{Name: "Issued", Label: templates.M("Issued")}}, func(c store.AuditDayCount) (string, bool) {
			return "Issued", c.Action == "oauth.rejected"
		}, tokens)
	return []templates.AdminChart{chartSignins, chartTokens}, nil
}

// buildChart lays out a stacked bar a day of series, with the day's refusals
// as a red bar beside it. classify names the series of a count, or says it is
// a refusal. A series' Name identifies it; buildChart gives it its colour.
func buildChart(id string, title, desc templates.Msg, since time.Time, series []templates.AdminChartSeries,
	classify func(store.AuditDayCount) (string, bool), counts []store.AuditDayCount) templates.AdminChart {
	ch := templates.AdminChart{ID: id, Title: title, Description: desc, Width: chartWidth, Height: chartHeight,
		RefusalColor: refusalColor}
	values := make([][]int, chartDays) // [day][series]
	refused := make([]int, chartDays)
	for i := range values {
		values[i] = make([]int, len(series))
	}
	for _, c := range counts {
		d := int(c.Day.Sub(since) / (24 * time.Hour))
		if d < 0 || d >= chartDays {
			continue
		}
		name, refusal := classify(c)
		if refusal {
			refused[d] += c.N
		} else if i := slices.IndexFunc(series, func(s templates.AdminChartSeries) bool { return s.Name == name }); i >= 0 {
			values[d][i] += c.N
		}
	}
	peak := 1
	for d := range chartDays {
		total := 0
		for _, v := range values[d] {
			total += v
		}
		peak = max(peak, total, refused[d])
	}
	for i, s := range series {
		s.Color = chartColors[i%len(chartColors)]
		ch.Series = append(ch.Series, s)
	}
	plotH := chartHeight - chartTop - chartBottom
	slot := (chartWidth - chartLeft) / chartDays
	y := func(v int) int { return v * plotH / peak }
	base := chartTop + plotH
	ch.Base, ch.Left, ch.Top, ch.Peak = base, chartLeft, chartTop, peak
	for d := range chartDays {
		day := since.AddDate(0, 0, d)
		x := chartLeft + d*slot + slot/8
		row := templates.AdminChartDay{Date: day.Format(time.DateOnly), Day: day, Refused: refused[d],
			LabelX: x + slot*3/8, ShowLabel: d%2 == (chartDays-1)%2}
		stacked := 0
		for i, v := range values[d] {
			row.Values = append(row.Values, v)
			if v == 0 {
				continue
			}
			h := max(y(v), 1)
			row.Bars = append(row.Bars, templates.AdminChartBar{X: x, Y: base - y(stacked) - h, W: slot / 2, H: h,
				Color: ch.Series[i].Color, Label: templates.M("%[1]s: %[2]d %[3]s", templates.ShortDay(day), v, seriesLabel(ch.Series[i]))})
			stacked += v
		}
		if refused[d] > 0 {
			h := max(y(refused[d]), 1)
			row.Bars = append(row.Bars, templates.AdminChartBar{X: x + slot/2 + 1, Y: base - h, W: slot / 4, H: h,
				Color: refusalColor, Label: templates.M("%[1]s: %[2]d refused", templates.ShortDay(day), refused[d])})
		}
		ch.Days = append(ch.Days, row)
	}
	return ch
}

// seriesLabel is what a bar's label says of its series: its label, or its
// name (a provider's ID) as it is.
func seriesLabel(s templates.AdminChartSeries) any {
	if s.Label.Key != "" {
		return s.Label
	}
	return s.Name
}
