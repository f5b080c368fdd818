package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/broker/store"
	"github.com/gatehouse/gatehouse/providers"
)

// DefaultCheckEvery is how often the registry re-reads provider versions: an
// admin's edit reaches every replica within this time, and requests in between
// cost no database round trip.
const DefaultCheckEvery = 3 * time.Second

// Registry caches built providers by ID and rebuilds one when its stored
// version changes, or when it was removed and added again: its version starts
// at 1 again, so the configuration itself is compared too. It is safe for concurrent use.
type Registry struct {
	env   Env
	st    store.Providers
	every time.Duration
	log   *slog.Logger

	mu        sync.Mutex
	checked   time.Time
	configs   []store.ProviderConfig // as last listed, ordered by ID
	built     map[string]*entry
	lastFetch map[string]time.Time // metadata URL fetch attempts, per provider
	// exchangeBy maps kind and canonical issuer to the enabled provider taking
	// its tokens for exchange; nil until needed after the configurations change.
	exchangeBy map[string]string
}

type entry struct {
	cfg store.ProviderConfig
	b   *Built
	err error
}

// ErrUnknown: no enabled provider has that ID.
var ErrUnknown = errors.New("upstream: unknown or disabled provider")

// NewRegistry returns a registry over st; checkEvery 0 means DefaultCheckEvery.
func NewRegistry(st store.Providers, env Env, checkEvery time.Duration, log *slog.Logger) *Registry {
	if checkEvery == 0 {
		checkEvery = DefaultCheckEvery
	}
	return &Registry{env: env, st: st, every: checkEvery, log: log, built: map[string]*entry{}, lastFetch: map[string]time.Time{}}
}

// Env is the environment providers are built in.
func (r *Registry) Env() Env { return r.env }

// Invalidate makes the next call re-read the stored configurations (after an
// edit made by this process).
func (r *Registry) Invalidate() {
	r.mu.Lock()
	r.checked = time.Time{}
	r.mu.Unlock()
}

// sync re-lists the configurations when the last listing is older than every.
// Called with r.mu held.
func (r *Registry) sync(ctx context.Context) error {
	now := r.env.now()
	if !r.checked.IsZero() && now.Sub(r.checked) < r.every && now.After(r.checked) {
		return nil
	}
	cs, err := r.st.List(ctx)
	if err != nil {
		return fmt.Errorf("upstream: list providers: %w", err)
	}
	if !sameVersions(r.configs, cs) {
		r.exchangeBy = nil
	}
	r.configs, r.checked = cs, now
	return nil
}

// Enabled lists the enabled provider configurations, ordered by ID.
func (r *Registry) Enabled(ctx context.Context) ([]store.ProviderConfig, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.sync(ctx); err != nil {
		return nil, err
	}
	var out []store.ProviderConfig
	for _, c := range r.configs {
		if c.Enabled {
			out = append(out, c)
		}
	}
	return out, nil
}

// Get returns the built, enabled provider id: ErrUnknown if there is none, the
// build error (wrapping providers.ErrConfig) if its configuration is unusable.
func (r *Registry) Get(ctx context.Context, id string) (*Built, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.sync(ctx); err != nil {
		return nil, err
	}
	return r.getLocked(ctx, id)
}

// getLocked is Get after the sync, with r.mu held.
func (r *Registry) getLocked(ctx context.Context, id string) (*Built, error) {
	var cfg *store.ProviderConfig
	for i := range r.configs {
		if r.configs[i].ID == id {
			cfg = &r.configs[i]
		}
	}
	if cfg == nil || !cfg.Enabled {
		return nil, fmt.Errorf("%w: %q", ErrUnknown, id)
	}
	if e, ok := r.built[id]; ok && e.cfg.Version == cfg.Version && e.cfg.CreatedAt.Equal(cfg.CreatedAt) && unchanged(e.cfg, *cfg) {
		return e.b, e.err
	}
	b, err := r.env.Build(*cfg)
	if err != nil && r.log != nil {
		r.log.ErrorContext(ctx, "provider configuration unusable", "provider", id, "version", cfg.Version, "error", err.Error())
	}
	r.built[id] = &entry{cfg: *cfg, b: b, err: err}
	return b, err
}

// RefreshMetadata refetches the IdP metadata of every SAML provider configured
// by URL whose refresh interval has passed. A fetch that fails, or returns
// metadata that does not validate, changes nothing: the last good copy stays
// (SAML-48/49). Changed metadata is stored with the optimistic version check, so
// of several replicas refreshing at once one writes and every one rebuilds.
func (r *Registry) RefreshMetadata(ctx context.Context) {
	cs, err := r.st.List(ctx)
	if err != nil {
		return
	}
	now := r.env.now()
	for _, c := range cs {
		if c.Kind != KindSAML || !c.Enabled {
			continue
		}
		s, err := DecodeSAML(c.Settings)
		if err != nil || s.MetadataURL == "" {
			continue
		}
		every := time.Duration(s.MetadataRefresh)
		if every <= 0 {
			every = time.Duration(DefaultMetadataRefresh)
		}
		r.mu.Lock()
		last := r.lastFetch[c.ID]
		due := last.IsZero() && now.Sub(s.MetadataFetchedAt) >= every || !last.IsZero() && now.Sub(last) >= every
		if due {
			r.lastFetch[c.ID] = now
		}
		r.mu.Unlock()
		if !due {
			continue
		}
		if _, err := r.RefreshOne(ctx, c); err != nil && r.log != nil {
			r.log.WarnContext(ctx, "metadata refresh failed; keeping the last good copy", "provider", c.ID, "error", err.Error())
		}
	}
}

// RefreshOne fetches c's metadata now and stores it if it changed.
func (r *Registry) RefreshOne(ctx context.Context, c store.ProviderConfig) (changed bool, err error) {
	s, err := DecodeSAML(c.Settings)
	if err != nil {
		return false, err
	}
	body, err := r.env.FetchMetadata(ctx, s.MetadataURL)
	if err != nil {
		return false, err
	}
	if string(body) == s.MetadataXML {
		return false, nil
	}
	// The provider's identity is its entity ID (issuer.go): fetched metadata
	// that names another one is refused, and an admin decides.
	was, err := entityIDOf(s.MetadataXML)
	if err != nil {
		return false, err
	}
	now, err := entityIDOf(string(body))
	if err != nil {
		return false, err
	}
	if now != was {
		return false, fmt.Errorf("%w: %w: metadata now names entity ID %s, not %s; update the provider to accept it",
			providers.ErrConfig, ErrIssuerInUse, now, was)
	}
	s.MetadataXML, s.MetadataFetchedAt = string(body), r.env.now().UTC()
	if c.Settings, err = encode(s); err != nil {
		return false, err
	}
	c.UpdatedAt = r.env.now()
	if err := r.st.Update(ctx, c); err != nil {
		return false, err
	}
	r.Invalidate()
	if r.log != nil {
		r.log.InfoContext(ctx, "IdP metadata changed", "provider", c.ID)
	}
	return true, nil
}

// FormOrigins returns the form-action origins of every usable enabled provider.
func (r *Registry) FormOrigins(ctx context.Context) []string {
	cs, err := r.Enabled(ctx)
	if err != nil {
		return nil
	}
	var out []string
	for _, c := range cs {
		if b, err := r.Get(ctx, c.ID); err == nil {
			for _, o := range b.FormOrigins {
				if !slices.Contains(out, o) {
					out = append(out, o)
				}
			}
		}
	}
	return out
}
