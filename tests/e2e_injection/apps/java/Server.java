// Test app: a JDK HttpServer whose /chain handler calls /hello with java.net.http.HttpClient.
// The injected Java agent instruments HttpClient (client spans) and, where supported, the JDK server.
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;

public class Server {
  static void reply(HttpExchange exchange, int status, String body) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    exchange.sendResponseHeaders(status, bytes.length);
    exchange.getResponseBody().write(bytes);
    exchange.close();
  }

  public static void main(String[] args) throws Exception {
    int port = Integer.parseInt(System.getenv("PORT"));
    HttpClient client = HttpClient.newHttpClient();
    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 0);
    server.createContext("/hello", exchange -> reply(exchange, 200, "hello from java\n"));
    server.createContext("/chain", exchange -> {
      try {
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/hello")).build();
        reply(exchange, 200, client.send(request, HttpResponse.BodyHandlers.ofString()).body());
      } catch (InterruptedException e) {
        reply(exchange, 502, e.toString());
      }
    });
    server.setExecutor(Executors.newFixedThreadPool(4));
    server.start();
  }
}
