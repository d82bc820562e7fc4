#include "engine/platform_xml.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include "core/error.hpp"

namespace chatdc::engine {

namespace {

namespace fs = std::filesystem;
using spec::Dir;
using spec::LinkUse;

std::string esc(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (const char c : s) switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&apos;"; break;
      default: o += c;
    }
  return o;
}

// Numbers in the shortest form that reads back to the same double, with SimGrid's base units.
std::string num(double v, const char* unit) { return fmt::format("{}{}", v, unit); }

std::vector<LinkUse> reversed(const std::vector<LinkUse>& links) {  // the way back: reverse order, UP <-> DOWN
  std::vector<LinkUse> out(links.rbegin(), links.rend());
  for (auto& u : out) u.dir = u.dir == Dir::Up ? Dir::Down : u.dir == Dir::Down ? Dir::Up : Dir::None;
  return out;
}

class Writer {
 public:
  Writer(const PlatformSpec& p, std::ostream& out) : out_(out) { index(p.root); }

  void zone(const spec::Zone& z, int depth) {
    if (!z.zones.empty() && (!z.hosts.empty() || !z.routers.empty()))
      throw std::logic_error("platform zone " + z.name + " holds both zones and hosts/routers (not valid in SimGrid XML)");
    if (z.routing == spec::Routing::Star && cluster_like(z))
      cluster(z, depth);
    else
      full(z, depth);
  }

 private:
  // Every name is looked up by SimGrid's XML loader: nodes (zones, hosts, routers) and links must be unique.
  void index(const spec::Zone& z) {
    node(z.name);
    for (const auto& h : z.hosts) node(h.name);
    for (const auto& r : z.routers) node(r);
    for (const auto& l : z.links) {
      split_[l.name] = l.split_duplex;
      if (l.split_duplex) {
        link_name(l.name + "_UP");
        link_name(l.name + "_DOWN");
        if (!split_names_.insert(l.name).second) duplicate("link", l.name);
      } else {
        link_name(l.name);
      }
    }
    for (const auto& s : z.zones) index(s);
  }
  void node(const std::string& n) {
    if (!nodes_.insert(n).second) duplicate("zone, host or router", n);
  }
  void link_name(const std::string& n) {
    if (!links_.insert(n).second) duplicate("link", n);
  }
  [[noreturn]] static void duplicate(const char* what, const std::string& n) {
    throw Error(fmt::format("cannot write the platform as SimGrid XML: the {} name \"{}\" is used twice "
                            "(rename a region, datacenter or user region)",
                            what, n));
  }

  bool is_split(const std::string& link) const {
    const auto it = split_.find(link);
    if (it == split_.end()) throw std::logic_error("platform route through unknown link " + link);
    return it->second;
  }
  // The SimGrid link a route crosses (the _UP or _DOWN half of a split-duplex link).
  std::string crossed(const LinkUse& u) const {
    if (!is_split(u.link)) return u.link;
    if (u.dir == Dir::None) throw std::logic_error("split-duplex link " + u.link + " used without a direction");
    return u.link + (u.dir == Dir::Up ? "_UP" : "_DOWN");
  }

  std::string pad(int depth) const { return std::string(static_cast<std::size_t>(2 * depth), ' '); }

  void hosts_routers_links(const spec::Zone& z, int depth) {
    const std::string in = pad(depth);
    for (const auto& h : z.hosts) {
      std::string speeds;
      for (std::size_t k = 0; k < h.speeds.size(); ++k) speeds += (k ? ", " : "") + num(h.speeds[k], "f");
      out_ << in << "<host id=\"" << esc(h.name) << "\" speed=\"" << speeds << "\" core=\"" << h.cores << "\">\n"
           << in << "  <prop id=\"wattage_per_state\" value=\"" << esc(h.wattage_per_state) << "\"/>\n"
           << in << "  <prop id=\"wattage_off\" value=\"" << esc(h.wattage_off) << "\"/>\n"
           << in << "</host>\n";
    }
    for (const auto& r : z.routers) out_ << in << "<router id=\"" << esc(r) << "\"/>\n";
    links(z, depth);
  }

  void links(const spec::Zone& z, int depth) {
    for (const auto& l : z.links)
      out_ << pad(depth) << "<link id=\"" << esc(l.name) << "\" bandwidth=\"" << num(l.bandwidth_Bps, "Bps") << "\" latency=\""
           << num(l.latency_s, "s") << "\"" << (l.split_duplex ? " sharing_policy=\"SPLITDUPLEX\"" : "") << "/>\n";
  }

  void route(const spec::Route& r, int depth) {
    const bool zone_route = !r.gw_src.empty() || !r.gw_dst.empty();
    if (r.src.empty() || r.dst.empty() || (zone_route && (r.gw_src.empty() || r.gw_dst.empty())))
      throw std::logic_error("platform route " + r.src + " -> " + r.dst + " lacks an end or a gateway");
    const std::string in = pad(depth);
    out_ << in << (zone_route ? "<zoneRoute" : "<route") << " src=\"" << esc(r.src) << "\" dst=\"" << esc(r.dst) << "\"";
    if (zone_route) out_ << " gw_src=\"" << esc(r.gw_src) << "\" gw_dst=\"" << esc(r.gw_dst) << "\"";
    if (!r.symmetrical) out_ << " symmetrical=\"NO\"";
    out_ << ">\n";
    for (const auto& u : r.links) {
      out_ << in << "  <link_ctn id=\"" << esc(u.link) << "\"";
      if (is_split(u.link)) {
        if (u.dir == Dir::None) throw std::logic_error("split-duplex link " + u.link + " used without a direction");
        out_ << " direction=\"" << (u.dir == Dir::Up ? "UP" : "DOWN") << "\"";
      }
      out_ << "/>\n";
    }
    out_ << in << (zone_route ? "</zoneRoute>\n" : "</route>\n");
  }

  // A star zone SimGrid's XML can express as routing="Cluster": hosts and routers only, and every route
  // is a <host_link>: one host to everyone over one link, symmetrical, no gateway.
  bool cluster_like(const spec::Zone& z) const {
    if (!z.zones.empty()) return false;
    std::set<std::string> hosts, seen;
    for (const auto& h : z.hosts) hosts.insert(h.name);
    for (const auto& r : z.routes)
      if (r.src.empty() || !r.dst.empty() || !hosts.count(r.src) || !r.gw_src.empty() || !r.gw_dst.empty() || !r.symmetrical ||
          r.links.size() != 1 || !seen.insert(r.src).second)
        return false;
    return true;
  }

  void cluster(const spec::Zone& z, int depth) {
    const std::string in = pad(depth);
    out_ << in << "<zone id=\"" << esc(z.name) << "\" routing=\"Cluster\">\n";
    hosts_routers_links(z, depth + 1);
    for (const auto& r : z.routes) {
      const LinkUse& u = r.links.front();
      out_ << in << "  <host_link id=\"" << esc(r.src) << "\" up=\"" << esc(crossed(u)) << "\" down=\""
           << esc(crossed(reversed(r.links).front())) << "\"/>\n";
    }
    out_ << in << "</zone>\n";
  }

  // Full zones are written as they are; other star zones get the route between every pair of members
  // that StarZone::get_local_route() computes.
  void full(const spec::Zone& z, int depth) {
    const std::string in = pad(depth);
    out_ << in << "<zone id=\"" << esc(z.name) << "\" routing=\"Full\">\n";
    if (z.zones.empty()) {
      hosts_routers_links(z, depth + 1);
    } else {  // sub-zones first: SimGrid's parser takes a zone that opens with <link> for a leaf zone
      for (const auto& s : z.zones) zone(s, depth + 1);
      links(z, depth + 1);
    }
    if (z.routing == spec::Routing::Full)
      for (const auto& r : z.routes) route(r, depth + 1);
    else
      star_as_full(z, depth + 1);
    out_ << in << "</zone>\n";
  }

  void star_as_full(const spec::Zone& z, int depth) {
    struct End {
      std::vector<LinkUse> up, down, loopback;
      std::string gw;
      bool has_loopback = false;
    };
    std::vector<std::string> members;
    for (const auto& h : z.hosts) members.push_back(h.name);
    for (const auto& r : z.routers) members.push_back(r);
    for (const auto& s : z.zones) members.push_back(s.name);
    std::unordered_map<std::string, End> ends;
    for (const auto& m : members) ends[m];
    auto end = [&](const std::string& name) -> End& {
      const auto it = ends.find(name);
      if (it == ends.end()) throw std::logic_error("star zone " + z.name + " routes unknown member " + name);
      return it->second;
    };
    for (const auto& r : z.routes) {  // as StarZone::add_route()
      if (!r.src.empty() && r.src == r.dst) {
        end(r.src).loopback = r.links;
        end(r.src).has_loopback = true;
        continue;
      }
      if (!r.src.empty() && !r.dst.empty()) throw std::logic_error("star zone " + z.name + ": route with two ends");
      if (!r.src.empty()) {
        End& e = end(r.src);
        e.up = r.links;
        e.gw = r.gw_src;
        if (r.symmetrical) e.down = reversed(r.links);
      } else {
        End& e = end(r.dst);
        e.down = r.links;
        e.gw = r.gw_dst;
      }
    }
    auto local = [&](const std::string& a, const std::string& b) {  // as StarZone::get_local_route()
      std::vector<LinkUse> links;
      std::set<std::string> added;
      for (const auto* part : {&ends.at(a).up, &ends.at(b).down})
        for (const auto& u : *part)
          if (added.insert(crossed(u)).second) links.push_back(u);
      return spec::Route{a, b, ends.at(a).gw, ends.at(b).gw, links, false};
    };
    for (std::size_t i = 0; i < members.size(); ++i) {
      const End& e = ends.at(members[i]);
      if (e.has_loopback && !e.loopback.empty()) route({members[i], members[i], "", "", e.loopback, false}, depth);
      for (std::size_t j = i + 1; j < members.size(); ++j) {
        spec::Route ab = local(members[i], members[j]);
        spec::Route ba = local(members[j], members[i]);
        // Routes without links are forbidden in a Full zone (the star zone would give an empty route).
        if (!ab.links.empty() && reversed(ab.links) == ba.links) {
          ab.symmetrical = true;
          route(ab, depth);
          continue;
        }
        if (!ab.links.empty()) route(ab, depth);
        if (!ba.links.empty()) route(ba, depth);
      }
    }
  }

  std::ostream& out_;
  std::set<std::string> nodes_, links_, split_names_;
  std::unordered_map<std::string, bool> split_;
};

std::string sanitize_comment(std::string s) {
  for (std::size_t k; (k = s.find("--")) != std::string::npos;) s.replace(k, 2, "- -");
  if (!s.empty() && s.back() == '-') s += ' ';
  return s;
}

}  // namespace

void write_platform_xml(const PlatformSpec& p, std::ostream& out, const std::string& comment) {
  Writer w(p, out);  // checks the names before anything is written
  out << "<?xml version='1.0'?>\n"
      << "<!DOCTYPE platform SYSTEM \"https://simgrid.org/simgrid.dtd\">\n"
      << "<platform version=\"4.1\">\n";
  if (!comment.empty()) out << "  <!-- " << sanitize_comment(comment) << " -->\n";
  w.zone(p.root, 1);
  out << "</platform>\n";
}

void save_platform_xml(const PlatformSpec& p, const std::string& file, const std::string& comment) {
  const fs::path target(file);
  const fs::path tmp = target.parent_path() / fmt::format(".{}.tmp-{}", target.filename().string(), static_cast<long>(::getpid()));
  auto fail = [&](const std::string& why) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw Error(fmt::format("cannot write {}: {}", file, why));
  };
  {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) fail("cannot create a file there (missing folder or no permission?)");
    try {
      write_platform_xml(p, out, comment);
    } catch (...) {
      out.close();
      std::error_code ec;
      fs::remove(tmp, ec);
      throw;
    }
    out.flush();
    if (!out) fail("write failed (disk full?)");
  }
  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec) fail(ec.message());
}

}  // namespace chatdc::engine
