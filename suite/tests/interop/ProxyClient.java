// The JDK's own Digest proxy authentication (java.net.HttpURLConnection through an HTTP
// proxy, credentials from an Authenticator), for suite/tests/interop.rs. Run as a single-file
// program: `java ProxyClient.java PROXY_HOST PROXY_PORT URL USER PASSWORD [POST_BODY]`.
//
// Makes one GET (or a POST of POST_BODY) of URL through the proxy and prints one report as
// `name<TAB>value` lines: the status, the body, the Proxy-Authentication-Info the proxy
// sent, and which kind of authentication the JDK was asked credentials for.

import java.io.InputStream;
import java.io.OutputStream;
import java.net.Authenticator;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.PasswordAuthentication;
import java.net.Proxy;
import java.net.URL;
import java.nio.charset.StandardCharsets;

public class ProxyClient {
    static String escape(String value) {
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r");
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 5) {
            System.err.println("usage: java ProxyClient.java PROXY_HOST PROXY_PORT URL USER PASSWORD [POST_BODY]");
            System.exit(2);
        }
        String user = args[3];
        char[] password = args[4].toCharArray();
        StringBuilder asked = new StringBuilder();
        Authenticator authenticator = new Authenticator() {
            @Override
            protected PasswordAuthentication getPasswordAuthentication() {
                asked.append(getRequestorType()).append(' ').append(getRequestingScheme()).append(';');
                // Answer once: a wrong password must end in the 407, not in a retry loop.
                return asked.length() > 40 ? null : new PasswordAuthentication(user, password);
            }
        };
        Proxy proxy = new Proxy(Proxy.Type.HTTP, new InetSocketAddress(args[0], Integer.parseInt(args[1])));
        HttpURLConnection connection = (HttpURLConnection) new URL(args[2]).openConnection(proxy);
        connection.setAuthenticator(authenticator);
        connection.setConnectTimeout(10_000);
        connection.setReadTimeout(10_000);
        if (args.length > 5) {
            connection.setRequestMethod("POST");
            connection.setDoOutput(true);
            try (OutputStream out = connection.getOutputStream()) {
                out.write(args[5].getBytes(StandardCharsets.UTF_8));
            }
        }
        int status = connection.getResponseCode();
        InputStream stream = status < 400 ? connection.getInputStream() : connection.getErrorStream();
        String body = stream == null ? "" : new String(stream.readAllBytes(), StandardCharsets.UTF_8);
        String info = connection.getHeaderField("Proxy-Authentication-Info");
        System.out.println("response\t1");
        System.out.println("status\t" + status);
        System.out.println("proxy_authentication_info\t" + escape(info == null ? "" : info));
        System.out.println("asked\t" + escape(asked.toString()));
        System.out.println("body\t" + escape(body));
    }
}
