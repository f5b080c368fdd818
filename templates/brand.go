package templates

import "context"

// Brand is what every page's frame shows of the organisation running
// Gatehouse (GATEHOUSE_BRAND_* settings): its name, its logo, a stylesheet
// setting the colours, and where to get help. web.Render puts it in the
// context; without one, pages look as Gatehouse's own.
type Brand struct {
	Name string
	// LogoURL is an https URL; "" means Gatehouse's logo.
	LogoURL string
	// StyleURL is the stylesheet of the brand colours; "" means none.
	StyleURL string
	// SupportURL (mailto: or https) and SupportText name the help contact.
	SupportURL, SupportText string
}

var gatehouseBrand = &Brand{Name: "Gatehouse"}

type brandKey struct{}

// WithBrand returns ctx carrying b for the pages rendered with it.
func WithBrand(ctx context.Context, b *Brand) context.Context {
	return context.WithValue(ctx, brandKey{}, b)
}

func brandFrom(ctx context.Context) *Brand {
	if b, ok := ctx.Value(brandKey{}).(*Brand); ok && b != nil {
		return b
	}
	return gatehouseBrand
}
