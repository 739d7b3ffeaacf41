// The shop's pricing service (Java, the JDK's own HTTP server, no OpenTelemetry code).
// GET /prices?items=a,b answers {"a": 3.5, "b": 12.0}.
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.Executors;

public class Pricing {
  static final Map<String, Double> PRICES = Map.of("tea", 3.5, "mug", 12.0, "pot", 29.9);

  static void reply(HttpExchange exchange, int status, String body) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().set("Content-Type", "application/json");
    exchange.sendResponseHeaders(status, bytes.length);
    exchange.getResponseBody().write(bytes);
    exchange.close();
  }

  public static void main(String[] args) throws Exception {
    int port = Integer.parseInt(System.getenv().getOrDefault("PORT", "8080"));
    HttpServer server = HttpServer.create(new InetSocketAddress("0.0.0.0", port), 0);
    server.createContext("/healthz", exchange -> reply(exchange, 200, "\"ok\""));
    server.createContext("/prices", exchange -> {
      long started = System.nanoTime();
      String query = exchange.getRequestURI().getQuery();
      String items = query != null && query.startsWith("items=") ? query.substring(6) : "";
      StringBuilder body = new StringBuilder("{");
      for (String item : items.split(",")) {
        if (item.isEmpty()) continue;
        if (body.length() > 1) body.append(',');
        body.append('"').append(item).append("\":").append(PRICES.getOrDefault(item, 0.0));
      }
      reply(exchange, 200, body.append('}').toString());
      System.out.printf("pricing GET /prices 200 in %d ms%n", (System.nanoTime() - started) / 1_000_000);
    });
    server.setExecutor(Executors.newFixedThreadPool(8));
    server.start();
    System.out.println("pricing listening on " + port);
  }
}
