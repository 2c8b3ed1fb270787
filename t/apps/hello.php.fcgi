#!/usr/bin/php-cgi
<?php
// Third-party FastCGI app for the mod_tracfcgi tests: Debian's php-cgi runs
// this file (through the #! line) in FastCGI mode, fd 0 being the listening
// socket the process manager hands it.
header('Content-Type: text/plain');
echo "php ok\n";
echo "SCRIPT_NAME=", $_SERVER['SCRIPT_NAME'] ?? '', "\n";
echo "PATH_INFO=", $_SERVER['PATH_INFO'] ?? '', "\n";
echo "QUERY_STRING=", $_SERVER['QUERY_STRING'] ?? '', "\n";
echo "REQUEST_METHOD=", $_SERVER['REQUEST_METHOD'] ?? '', "\n";
echo "pid=", getmypid(), "\n";
echo "sapi=", PHP_SAPI, "\n";
