<%@ page contentType="text/plain; charset=UTF-8" session="false" import="java.security.cert.X509Certificate" %><%
  // The client certificate and TLS connection as the container reports them: over AJP, what the
  // proxy sent as ssl_cert, ssl_cipher, ssl_session and ssl_key_size (Tomcat's AjpProcessor).
  X509Certificate[] certs = (X509Certificate[]) request.getAttribute("jakarta.servlet.request.X509Certificate");
  out.println("node=" + System.getProperty("lab.route", "?"));
  out.println("secure=" + request.isSecure());
  out.println("certs=" + (certs == null ? 0 : certs.length));
  if (certs != null) {
    for (int i = 0; i < certs.length; i++) {
      out.println("subject." + i + "=" + certs[i].getSubjectX500Principal().getName());
      out.println("issuer." + i + "=" + certs[i].getIssuerX500Principal().getName());
      out.println("serial." + i + "=" + certs[i].getSerialNumber().toString(16));
    }
  }
  out.println("cipher_suite=" + request.getAttribute("jakarta.servlet.request.cipher_suite"));
  out.println("key_size=" + request.getAttribute("jakarta.servlet.request.key_size"));
  out.println("ssl_session_id=" + request.getAttribute("jakarta.servlet.request.ssl_session_id"));
  out.println("protocol=" + request.getAttribute("org.apache.tomcat.util.net.secure_protocol_version"));
%>
